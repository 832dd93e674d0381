# Shortcuts; each target calls the script that does the work.
.PHONY: dev test lint build deploy token

dev:            ## run the whole system locally
	./dev/run.sh

test:           ## run every test
	./dev/test.sh

lint:           ## fmt, clippy, template lint
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	./dev/lint-template.sh

build:          ## release build for Lambda (arm64) via SAM + cargo-lambda
	./dev/build.sh

deploy: build   ## guided deploy with SAM
	. .venv/bin/activate && sam deploy --guided

token:          ## bearer token for a local user: make token USER=user_123
	./dev/token.sh $(USER)
