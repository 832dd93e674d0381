//! The hosted Checkout, Billing Portal and invoice pages: minimal HTML, no scripts.

use crate::model::{CheckoutSession, Invoice, PortalSession, Price, Subscription};
use crate::world::World;
use crate::world::invoices::{date_text, money_text};

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
            if price.metered() {
                let product = world.products.get(&price.product).map_or("?", |p| p.name.as_str());
                body.push_str(&format!(
                    "<p>{} usage — {} per unit, billed at the end of each {}</p>",
                    escape(product),
                    money(price.unit_amount, &price.currency),
                    price.interval.unwrap_or("month")
                ));
            } else {
                body.push_str(&format!("<p>{} × {}</p>", describe_price(world, price), item.quantity));
            }
        }
    }
    if let Some(days) = session.trial_period_days {
        body.push_str(&format!("<p><b>{days}-day free trial</b>: nothing is charged today.</p>"));
    }
    if session.automatic_tax {
        body.push_str(&format!(
            "<p>Tax (Stripe Tax, from your address): {}</p>",
            money(0, &session.currency)
        ));
    }
    body.push_str(&format!(
        "<p>Total: <b>{}</b></p></div>",
        money(session.amount_total, &session.currency)
    ));
    let mut collects = Vec::new();
    match session.billing_address_collection.as_deref() {
        Some("required") => collects.push("your billing address (required)"),
        _ if session.automatic_tax => collects.push("your billing address (for tax)"),
        Some("auto") => collects.push("your billing address when needed"),
        _ => {}
    }
    if session.tax_id_collection {
        collects.push("a tax ID (optional, for businesses)");
    }
    if !collects.is_empty() {
        body.push_str(&format!("<p>This page collects {}.</p>", collects.join(" and ")));
    }
    if let Some(error) = error {
        body.push_str(&format!("<p class=\"error\" role=\"alert\">{}</p>", escape(error)));
    }
    let promotion = if session.allow_promotion_codes {
        format!(
            "<p><label>Promotion code<br><input name=\"promotion_code\" autocomplete=\"off\"></label><br><small>{}</small></p>",
            escape(&world.promotion_code_hints(session.customer.as_deref()))
        )
    } else {
        String::new()
    };
    // With `payment_method_collection=if_required` and nothing due today, no card is needed.
    let optional = session.payment_method_collection == "if_required" && (session.trial_period_days.is_some() || session.amount_total == 0);
    let (card_value, card_note) = if optional {
        ("", "<br><small>No card needed today: leave it empty to start without one.</small>")
    } else {
        ("4242 4242 4242 4242", "")
    };
    body.push_str(&format!(
        "<form method=\"post\" action=\"/checkout/{id}/pay\"><label>Card number<br>\
         <input name=\"card\" inputmode=\"numeric\" autocomplete=\"cc-number\" value=\"{card_value}\"></label>{card_note}\
         {promotion}<p><button type=\"submit\">{button}</button></p></form>\
         <p><small>4242 4242 4242 4242 succeeds · 4000 0000 0000 0341 fails at the next renewal · 4000 0000 0000 9995 is declined</small></p>",
        id = escape(&session.id),
        button = if optional { "Start" } else { "Pay" }
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
    let method = world
        .customers
        .get(&session.customer)
        .and_then(|c| c.default_payment_method.as_ref())
        .and_then(|pm| world.payment_methods.get(pm));
    body.push_str(&format!(
        "<div class=\"box\"><p>Payment method: <b>{}</b></p><form method=\"post\" action=\"/portal/{}/action\">\
         <input type=\"hidden\" name=\"action\" value=\"add_card\"><label>Card number<br>\
         <input name=\"card\" inputmode=\"numeric\" autocomplete=\"cc-number\" value=\"4242 4242 4242 4242\"></label> \
         <button type=\"submit\">{}</button></form></div>",
        method.map_or_else(|| "none".to_owned(), |m| format!("{} •••• {}", m.brand, escape(&m.last4))),
        escape(&session.id),
        if method.is_some() { "Replace card" } else { "Add card" }
    ));
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
            "<p>Status: <b>{}</b>{}{}</p>",
            escape(&sub.status),
            if sub.cancel_at_period_end {
                " — cancels at period end"
            } else {
                ""
            },
            if sub.pause_collection.is_some() {
                " — payment collection paused"
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
            for price in world.prices.values().filter(|p| p.interval.is_some() && !p.metered()) {
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

/// The hosted invoice page: number, status, lines with their periods, totals and balance.
pub fn invoice(world: &World, invoice: &Invoice) -> String {
    let number = invoice.number.as_deref().unwrap_or("draft");
    let customer = world.customers.get(&invoice.customer);
    let mut body = format!(
        "<h1>Invoice {}</h1><p>Status: <b>{}</b> · {}</p><p>Billed to {}</p>",
        escape(number),
        escape(&invoice.status),
        date_text(invoice.created),
        escape(customer.and_then(|c| c.email.as_deref()).unwrap_or(&invoice.customer))
    );
    body.push_str("<table class=\"box\" style=\"width:100%;border-collapse:collapse\"><thead><tr><th align=\"left\">Description</th><th align=\"left\">Period</th><th align=\"right\">Qty</th><th align=\"right\">Amount</th></tr></thead><tbody>");
    for line in &invoice.lines {
        body.push_str(&format!(
            "<tr><td>{}{}</td><td>{} – {}</td><td align=\"right\">{}</td><td align=\"right\">{}</td></tr>",
            escape(&line.description),
            if line.proration { " <small>(proration)</small>" } else { "" },
            date_text(line.period_start),
            date_text(line.period_end),
            line.quantity,
            money_text(line.amount, &invoice.currency)
        ));
    }
    body.push_str("</tbody></table>");
    let applied = invoice.ending_balance.map_or(0, |end| end - invoice.starting_balance);
    let discounts: String = invoice
        .discount_amounts
        .iter()
        .map(|(id, amount)| {
            let coupon = world.discounts.get(id).and_then(|d| world.coupons.get(&d.coupon));
            format!(
                "<p>Discount ({}): -{}</p>",
                escape(&coupon.map_or_else(|| id.clone(), |c| c.name.clone().unwrap_or_else(|| c.describe()))),
                money_text(*amount, &invoice.currency)
            )
        })
        .collect();
    body.push_str(&format!(
        "<div class=\"box\"><p>Subtotal: {}</p>{discounts}<p>Total: {}</p><p>Applied balance: {}</p><p>Amount due: <b>{}</b></p><p>Amount paid: {}</p></div>",
        money_text(invoice.subtotal, &invoice.currency),
        money_text(invoice.total, &invoice.currency),
        money_text(applied, &invoice.currency),
        money_text(invoice.amount_due, &invoice.currency),
        money_text(invoice.amount_paid, &invoice.currency)
    ));
    if let Some(pdf) = &invoice.invoice_pdf {
        body.push_str(&format!("<p><a href=\"{}\">Download PDF</a></p>", escape(pdf)));
    }
    page(&format!("Invoice {number}"), &body)
}

/// Text a PDF string literal can hold: printable ASCII, with `\`, `(` and `)` escaped.
fn pdf_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            '×' => out.push('x'),
            '€' => out.push_str("EUR "),
            '£' => out.push_str("GBP "),
            '–' | '—' => out.push('-'),
            c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

/// A minimal, valid one-page PDF of the invoice (Helvetica text, a correct xref table).
pub fn invoice_pdf(world: &World, invoice: &Invoice) -> Vec<u8> {
    let mut lines = vec![
        format!("Invoice {}", invoice.number.as_deref().unwrap_or("draft")),
        format!("Status: {}   Date: {}", invoice.status, date_text(invoice.created)),
        format!(
            "Billed to: {}",
            world
                .customers
                .get(&invoice.customer)
                .and_then(|c| c.email.clone())
                .unwrap_or_else(|| invoice.customer.clone())
        ),
        String::new(),
    ];
    for line in &invoice.lines {
        lines.push(format!(
            "{}{}  ({} - {})  {}",
            line.description,
            if line.proration { " [proration]" } else { "" },
            date_text(line.period_start),
            date_text(line.period_end),
            money_text(line.amount, &invoice.currency)
        ));
    }
    lines.push(String::new());
    lines.push(format!("Subtotal: {}", money_text(invoice.subtotal, &invoice.currency)));
    for (_, amount) in &invoice.discount_amounts {
        lines.push(format!("Discount: -{}", money_text(*amount, &invoice.currency)));
    }
    lines.push(format!("Total: {}", money_text(invoice.total, &invoice.currency)));
    lines.push(format!("Amount due: {}", money_text(invoice.amount_due, &invoice.currency)));
    lines.push(format!("Amount paid: {}", money_text(invoice.amount_paid, &invoice.currency)));
    let mut content = String::from("BT /F1 11 Tf 14 TL 50 790 Td\n");
    for line in &lines {
        content.push_str(&format!("({}) Tj T*\n", pdf_text(line)));
    }
    content.push_str("ET\n");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>".to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}endstream", content.len()),
    ];
    let mut pdf = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(pdf.len());
        pdf.push_str(&format!("{} 0 obj\n{object}\nendobj\n", i + 1));
    }
    let xref = pdf.len();
    pdf.push_str(&format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1));
    for offset in offsets {
        pdf.push_str(&format!("{offset:010} 00000 n \n"));
    }
    pdf.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    pdf.into_bytes()
}
