//! The console's and the portal's words, in catalogues: one file per language and
//! area under `locales/`, lines of `key = text`. Chinese (zh-CN) is the default.
//! A key missing from a catalogue shows as the key itself, and a test fails on it.

use std::collections::HashMap;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        let c = code.trim().to_ascii_lowercase();
        if c == "en" || c.starts_with("en-") {
            Some(Lang::En)
        } else if c == "zh" || c.starts_with("zh-") {
            Some(Lang::Zh)
        } else {
            None
        }
    }

    /// The first language of `Accept-Language` we have, by the browser's order.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut tags: Vec<(f32, &str)> = header
            .split(',')
            .map(|part| {
                let mut it = part.split(';');
                let tag = it.next().unwrap_or("").trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (q, tag)
            })
            .collect();
        tags.sort_by(|a, b| b.0.total_cmp(&a.0));
        tags.iter()
            .find_map(|(_, t)| Lang::from_code(t))
            .unwrap_or_default()
    }

    /// The other language, for the switch.
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

/// The catalogue files, per language.
pub const CATALOGUES: &[(Lang, &str, &str)] = &[
    (
        Lang::Zh,
        "console.zh-CN.txt",
        include_str!("locales/console.zh-CN.txt"),
    ),
    (
        Lang::En,
        "console.en.txt",
        include_str!("locales/console.en.txt"),
    ),
    (
        Lang::Zh,
        "portal.zh-CN.txt",
        include_str!("locales/portal.zh-CN.txt"),
    ),
    (
        Lang::En,
        "portal.en.txt",
        include_str!("locales/portal.en.txt"),
    ),
];

/// Parses one catalogue: `key = text` per line; blank lines and `#` comments skipped.
pub fn parse(text: &'static str) -> Vec<(&'static str, &'static str)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn table(lang: Lang) -> &'static HashMap<&'static str, &'static str> {
    static ZH: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    static EN: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
    let cell = match lang {
        Lang::Zh => &ZH,
        Lang::En => &EN,
    };
    cell.get_or_init(|| {
        CATALOGUES
            .iter()
            .filter(|(l, _, _)| *l == lang)
            .flat_map(|(_, _, text)| parse(text))
            .collect()
    })
}

/// The text of `key` in `lang`, if the catalogue has it.
pub fn lookup(lang: Lang, key: &str) -> Option<&'static str> {
    table(lang).get(key).copied()
}

/// The text of `key` in `lang`; the English text or a marker when the catalogue lacks
/// it.
pub fn t(lang: Lang, key: &str) -> &'static str {
    match table(lang).get(key) {
        Some(v) => v,
        None => {
            tracing::warn!(key, lang = lang.code(), "missing catalogue entry");
            // The English text, else a marker a test would have caught.
            table(Lang::En).get(key).copied().unwrap_or("??")
        }
    }
}

/// `{name}` placeholders filled in.
pub fn fill(text: &str, args: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (k, v) in args {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn accept_language_picks_by_weight() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Lang::En);
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(Lang::from_accept_language("fr;q=0.9,en;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr"), Lang::Zh);
        assert_eq!(Lang::from_accept_language(""), Lang::Zh);
    }

    fn keys(lang: Lang, area: &str) -> BTreeSet<&'static str> {
        CATALOGUES
            .iter()
            .filter(|(l, name, _)| *l == lang && name.starts_with(area))
            .flat_map(|(_, _, text)| parse(text).into_iter().map(|(k, _)| k))
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_keys_and_no_duplicates() {
        for area in ["console", "portal"] {
            let zh = keys(Lang::Zh, area);
            let en = keys(Lang::En, area);
            let only_zh: Vec<_> = zh.difference(&en).collect();
            let only_en: Vec<_> = en.difference(&zh).collect();
            assert!(
                only_zh.is_empty() && only_en.is_empty(),
                "{area}: only in zh-CN {only_zh:?}, only in en {only_en:?}"
            );
        }
        for (_, name, text) in CATALOGUES {
            let mut seen = BTreeSet::new();
            for (k, v) in parse(text) {
                assert!(seen.insert(k), "{name}: {k} twice");
                assert!(!v.is_empty(), "{name}: {k} is empty");
            }
        }
    }

    /// Every key the code asks for (`t("…")`) is in the catalogues.
    #[test]
    fn every_key_used_is_in_the_catalogues() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web");
        let mut files = vec![];
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let all: BTreeSet<&str> = keys(Lang::Zh, "")
            .union(&keys(Lang::En, ""))
            .copied()
            .collect();
        let mut missing = vec![];
        for f in files {
            let src = std::fs::read_to_string(&f).unwrap();
            for part in src.split("t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                let plain = key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
                if plain && key.contains('.') && !all.contains(key) {
                    missing.push(format!("{}: {key}", f.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the catalogues: {missing:#?}"
        );
    }
}
