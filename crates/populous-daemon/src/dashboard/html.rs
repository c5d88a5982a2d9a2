//! The dashboard's HTML: escaping, the page frame, and small formatters.
//!
//! Every text that reaches a page goes through [`esc`] (or [`attr`], the
//! same escaping, named for attribute values); pages are plain strings built
//! with `format!`, so there is no template language to learn and nothing is
//! ever inserted unescaped by accident of a template's defaults.

use std::fmt::Write as _;

/// `s` escaped for HTML text and quoted attribute values: `& < > " '`.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `s` escaped for a quoted attribute value (the same as [`esc`]).
pub fn attr(s: &str) -> String {
    esc(s)
}

/// `s` percent-encoded for one URL path segment (names are already checked
/// against `[A-Za-z0-9._-]`, so this only matters for what is not a name).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Bytes for people (`1.5 GiB`), or `-` when unknown.
pub fn bytes(b: Option<u64>) -> String {
    b.map_or_else(|| "-".to_owned(), populous_units::format_size)
}

/// A Unix time as RFC 3339 (UTC), or `-`.
pub fn time(t: Option<i64>) -> String {
    t.map_or_else(|| "-".to_owned(), populous_engine::rfc3339)
}

/// The pages of the navigation bar: (path, label).
pub const NAV: [(&str, &str); 6] = [
    ("/ui/pools", "Pools & folders"),
    ("/ui/volumes", "Volumes"),
    ("/ui/sources", "Sources"),
    ("/ui/pipelines", "Pipelines"),
    ("/ui/latency", "Prod latency"),
    ("/ui/audit", "Audit"),
];

/// Who is signed in, for the page frame: the token's name and the session's
/// CSRF token (the logout form carries it).
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// The token's name.
    pub token: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
}

/// A whole page: head, navigation (when signed in), the title and `body`
/// (already HTML).
pub fn page(title: &str, who: Option<Who<'_>>, body: &str) -> String {
    let mut nav = String::new();
    if let Some(w) = who {
        nav.push_str("<nav>");
        for (path, label) in NAV {
            let _ = write!(nav, "<a href=\"{path}\">{}</a>", esc(label));
        }
        let _ = write!(
            nav,
            "<form method=\"post\" action=\"/ui/logout\" class=\"logout\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <span class=\"who\">signed in as <b>{}</b></span> \
             <button type=\"submit\">Sign out</button></form></nav>",
            attr(w.csrf),
            esc(w.token)
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · Populous</title><link rel=\"stylesheet\" href=\"/ui/style.css\"></head>\
         <body><header><a class=\"brand\" href=\"/ui\">Populous</a>{nav}</header>\
         <main><h1>{t}</h1>\n{body}\n</main></body></html>\n",
        t = esc(title)
    )
}

/// A table: header cells (text) and rows of cells (already HTML).
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// The stylesheet, served at `/ui/style.css` (pages carry no inline style,
/// so the content security policy can forbid it).
pub const CSS: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#222;background:#fafafa}\
header{display:flex;flex-wrap:wrap;align-items:center;gap:1em;padding:.5em 1em;background:#23395d;color:#fff}\
header a{color:#fff;text-decoration:none;margin-right:.8em}\
header .brand{font-weight:bold;font-size:1.2em}\
nav{display:flex;flex-wrap:wrap;align-items:center;gap:.3em;flex:1}\
nav .logout{margin-left:auto}\
main{padding:1em 2em}\
table{border-collapse:collapse;margin:.5em 0 1.5em;background:#fff}\
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top;font-size:.92em}\
th{background:#eef}\
.ok{color:#176317}.bad{color:#a11}.muted{color:#777}\
.box{background:#fff;border:1px solid #ccc;padding:1em;max-width:40em}\
.warn{background:#fff4e5;border:1px solid #e0a040;padding:1em;max-width:40em}\
svg{background:#fff;border:1px solid #ccc}\
button{padding:.3em 1em}\
.danger{background:#a11;color:#fff;border:1px solid #700}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(
            esc(r#"<script>alert('x') & "y"</script>"#),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
        assert_eq!(esc("plain dev/db-1@s.2"), "plain dev/db-1@s.2");
        assert_eq!(esc(""), "");
        assert_eq!(attr("a\"b"), "a&quot;b");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(seg("db-1.x_y"), "db-1.x_y");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
        assert_eq!(seg("é"), "%C3%A9");
    }

    #[test]
    fn pages_escape_titles_and_names() {
        let p = page(
            "<x>",
            Some(Who {
                token: "<t>",
                csrf: "\"c\"",
            }),
            "",
        );
        assert!(p.contains("<title>&lt;x&gt; · Populous</title>"));
        assert!(p.contains("<b>&lt;t&gt;</b>"));
        assert!(p.contains("value=\"&quot;c&quot;\""));
        assert!(!p.contains("<x>"));
        let t = table(&["a<b"], &[vec!["<i>x</i>".into()]]);
        assert!(t.contains("<th>a&lt;b</th>") && t.contains("<td><i>x</i></td>"));
    }
}
