//! The hosted Checkout and Billing Portal pages: minimal HTML, no scripts.

use crate::model::{CheckoutSession, PortalSession, Price, Subscription};
use crate::world::World;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn money(amount: i64, currency: &str) -> String {
    format!("{}.{:02} {}", amount / 100, amount % 100, currency.to_uppercase())
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem}}\
         .box{{border:1px solid #ccc;border-radius:8px;padding:1rem 1.5rem;margin:1rem 0}}\
         .error{{color:#b00020}} button{{padding:.5rem 1rem}} input{{padding:.4rem;width:16rem}}\
         small{{color:#666}}</style></head><body><p><small>Stripe emulator (test mode)</small></p>{}</body></html>",
        escape(title),
        body
    )
}

fn describe_price(world: &World, price: &Price) -> String {
    let product = world.products.get(&price.product).map_or("?", |p| p.name.as_str());
    let every = price.interval.map(|i| format!(" / {i}")).unwrap_or_default();
    format!("{} — {}{}", escape(product), money(price.unit_amount, &price.currency), every)
}

pub fn checkout(world: &World, session: &CheckoutSession, error: Option<&str>) -> String {
    let mut body = String::from("<h1>Checkout</h1>");
    if session.status != "open" {
        body.push_str(&format!("<p>This checkout session is <b>{}</b>.</p>", escape(&session.status)));
        return page("Checkout", &body);
    }
    body.push_str("<div class=\"box\">");
    for item in &session.line_items {
        if let Some(price) = world.prices.get(&item.price) {
            body.push_str(&format!("<p>{} × {}</p>", describe_price(world, price), item.quantity));
        }
    }
    if let Some(days) = session.trial_period_days {
        body.push_str(&format!("<p><b>{days}-day free trial</b>: nothing is charged today.</p>"));
    }
    body.push_str(&format!(
        "<p>Total: <b>{}</b></p></div>",
        money(session.amount_total, &session.currency)
    ));
    if let Some(error) = error {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(error)));
    }
    let promotion = if session.allow_promotion_codes {
        "<p><label>Promotion code<br><input name=\"promotion_code\" autocomplete=\"off\"></label><br>\
         <small>FREE100 (100 % off) · HALF50 (50 % off)</small></p>"
    } else {
        ""
    };
    body.push_str(&format!(
        "<form method=\"post\" action=\"/checkout/{id}/pay\"><label>Card number<br>\
         <input name=\"card\" inputmode=\"numeric\" autocomplete=\"cc-number\" value=\"4242 4242 4242 4242\"></label>\
         {promotion}<p><button type=\"submit\">Pay</button></p></form>\
         <p><small>4242 4242 4242 4242 succeeds · 4000 0000 0000 0341 fails at the next renewal · 4000 0000 0000 9995 is declined</small></p>",
        id = escape(&session.id)
    ));
    if let Some(cancel) = &session.cancel_url {
        body.push_str(&format!("<p><a href=\"{}\">Cancel and go back</a></p>", escape(cancel)));
    }
    page("Checkout", &body)
}

pub fn portal(world: &World, session: &PortalSession, notice: Option<&str>) -> String {
    let mut body = String::from("<h1>Billing</h1>");
    if let Some(notice) = notice {
        body.push_str(&format!("<p role=\"status\">{}</p>", escape(notice)));
    }
    let subs: Vec<&Subscription> = world.customer_subscriptions(&session.customer);
    if subs.is_empty() {
        body.push_str("<p>No subscriptions.</p>");
    }
    for sub in subs {
        body.push_str("<div class=\"box\">");
        for item in &sub.items {
            if let Some(price) = world.prices.get(&item.price) {
                body.push_str(&format!("<p>{}</p>", describe_price(world, price)));
            }
        }
        body.push_str(&format!(
            "<p>Status: <b>{}</b>{}</p>",
            escape(&sub.status),
            if sub.cancel_at_period_end {
                " — cancels at period end"
            } else {
                ""
            }
        ));
        if sub.status != "canceled" {
            let action = |name: &str, label: &str| {
                format!(
                    "<form method=\"post\" action=\"/portal/{}/action\" style=\"display:inline\"><input type=\"hidden\" name=\"subscription\" value=\"{}\">\
                     <input type=\"hidden\" name=\"action\" value=\"{name}\"><button type=\"submit\">{label}</button></form> ",
                    escape(&session.id),
                    escape(&sub.id)
                )
            };
            body.push_str(&if sub.cancel_at_period_end {
                action("resume", "Resume")
            } else {
                action("cancel", "Cancel at period end")
            });
            let mut options = String::new();
            for price in world.prices.values().filter(|p| p.interval.is_some()) {
                options.push_str(&format!(
                    "<option value=\"{}\">{}</option>",
                    escape(&price.id),
                    describe_price(world, price)
                ));
            }
            body.push_str(&format!(
                "<form method=\"post\" action=\"/portal/{}/action\"><input type=\"hidden\" name=\"subscription\" value=\"{}\">\
                 <input type=\"hidden\" name=\"action\" value=\"switch\"><select name=\"price\">{options}</select> <button type=\"submit\">Switch plan</button></form>",
                escape(&session.id),
                escape(&sub.id)
            ));
        }
        body.push_str("</div>");
    }
    if let Some(url) = &session.return_url {
        body.push_str(&format!("<p><a href=\"{}\">Return</a></p>", escape(url)));
    }
    page("Billing", &body)
}
