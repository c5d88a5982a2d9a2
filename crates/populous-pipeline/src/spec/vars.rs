//! Placeholders: `{version}`, `{build}`, `{tag}`, `{env}` and `{image}`,
//! replaced as text in arguments and volume names (never given to a shell).

/// Values for placeholders.
#[derive(Debug, Clone)]
pub struct Vars {
    /// `{version}`.
    pub version: String,
    /// `{build}`.
    pub build: String,
    /// `{env}`.
    pub env: String,
    /// `{image}`, where it applies.
    pub image: Option<String>,
}

impl Vars {
    pub(super) fn example() -> Vars {
        Vars {
            version: "1.0.1".into(),
            build: "28".into(),
            env: "dev".into(),
            image: None,
        }
    }

    /// `{version}-{build}`.
    pub fn tag(&self) -> String {
        format!("{}-{}", self.version, self.build)
    }
}

/// Replaces the placeholders in `s`. Unknown `{...}` stay as they are.
pub fn expand(s: &str, v: &Vars) -> String {
    let mut out = s
        .replace("{version}", &v.version)
        .replace("{build}", &v.build)
        .replace("{tag}", &v.tag())
        .replace("{env}", &v.env);
    if let Some(i) = &v.image {
        out = out.replace("{image}", i);
    }
    out
}
