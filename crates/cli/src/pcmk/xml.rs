//! A small XML element tree, written the way Pacemaker's tools format theirs (libxml2's
//! formatted dump: two spaces per level, attributes in insertion order, empty elements
//! closed with `/>`).

/// One element: its name, attributes in order, child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Element>,
}

impl Element {
    pub fn new(name: &str) -> Element {
        Element {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Add an attribute (builder style).
    pub fn attr(mut self, name: &str, value: impl ToString) -> Element {
        self.attrs.push((name.to_string(), value.to_string()));
        self
    }

    pub fn set(&mut self, name: &str, value: impl ToString) {
        match self.attrs.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.attrs.push((name.to_string(), value.to_string())),
        }
    }

    /// Add a child (builder style).
    pub fn child(mut self, c: Element) -> Element {
        self.children.push(c);
        self
    }

    pub fn push(&mut self, c: Element) {
        self.children.push(c);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The formatted document (with a trailing newline).
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write(0, &mut out);
        out
    }

    fn write(&self, depth: usize, out: &mut String) {
        for _ in 0..depth {
            out.push_str("  ");
        }
        out.push('<');
        out.push_str(&self.name);
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            out.push_str(&escape(v));
            out.push('"');
        }
        if self.children.is_empty() {
            out.push_str("/>\n");
            return;
        }
        out.push_str(">\n");
        for c in &self.children {
            c.write(depth + 1, out);
        }
        for _ in 0..depth {
            out.push_str("  ");
        }
        out.push_str("</");
        out.push_str(&self.name);
        out.push_str(">\n");
    }
}

/// Escape an attribute value as libxml2 does.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_libxml() {
        let e = Element::new("a")
            .attr("x", "1 < 2 & \"q\"")
            .child(Element::new("b").child(Element::new("c").attr("y", "z")))
            .child(Element::new("d"));
        assert_eq!(
            e.to_xml(),
            "<a x=\"1 &lt; 2 &amp; &quot;q&quot;\">\n  <b>\n    <c y=\"z\"/>\n  </b>\n  <d/>\n</a>\n"
        );
    }
}
