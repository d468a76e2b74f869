//! Parsing `#[trace(...)]` attributes into raw entries.
//!
//! Parsing only checks syntax: every entry is kept as written, with its span,
//! so that [`valid`](crate::valid) can report every semantic mistake (unknown,
//! duplicate or conflicting keys, keys with values, misplaced attributes) at
//! once, each at the tokens that caused it.

use crate::ast::Errors;
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::{Attribute, Meta, Token};

/// The `#[trace(...)]` attributes of one type, variant or field.
pub(crate) struct Attrs<'a> {
    /// The attributes themselves, for errors that point at a whole attribute.
    pub(crate) attrs: Vec<&'a Attribute>,
    /// Every entry of every attribute, in order.
    pub(crate) entries: Vec<Entry>,
}

/// One entry inside `#[trace(...)]`, as written.
pub(crate) struct Entry {
    /// What the key names.
    pub(crate) key: Key,
    /// The key as written (`skip`, `foo`, `a::b`), for messages.
    pub(crate) name: String,
    /// The key's tokens, for errors about the key (`syn::Error::new_spanned`
    /// spans first to last token, also on stable compilers).
    pub(crate) key_tokens: TokenStream,
    /// The whole entry's tokens (`skip = true`), when it carries a value
    /// (`= ...` or `(...)`); `None` for a bare key.
    pub(crate) value_tokens: Option<TokenStream>,
}

/// The known keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// `skip`: the field is not visited.
    Skip,
    /// `opaque`: the field's heap block is counted without looking inside.
    Opaque,
    /// Anything else.
    Unknown,
}

impl Attrs<'_> {
    /// Whether there is an entry with this key.
    pub(crate) fn has(&self, key: Key) -> bool {
        self.entries.iter().any(|e| e.key == key)
    }
}

/// Collects the `#[trace(...)]` attributes among `attrs`.
///
/// Fails only on syntax that is not a list of keys: `#[trace]`,
/// `#[trace = "..."]`, `#[trace()]`, `#[trace(1)]`. All such errors are
/// combined.
pub(crate) fn get(attrs: &[Attribute]) -> syn::Result<Attrs<'_>> {
    let mut out = Attrs {
        attrs: Vec::new(),
        entries: Vec::new(),
    };
    let mut errors = Errors::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        out.attrs.push(attr);
        errors.take(parse_one(attr, &mut out.entries));
    }
    errors.finish().map(|()| out)
}

fn parse_one(attr: &Attribute, entries: &mut Vec<Entry>) -> syn::Result<()> {
    let list = match &attr.meta {
        Meta::List(list) => list,
        Meta::Path(_) | Meta::NameValue(_) => {
            return Err(syn::Error::new_spanned(
                attr,
                "expected `#[trace(skip)]` or `#[trace(opaque)]`",
            ));
        }
    };
    let metas = list
        .parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
        .map_err(|e| {
            syn::Error::new(
                e.span(),
                format!(
                    "invalid `#[trace(...)]`: {e}; write `#[trace(skip)]` or `#[trace(opaque)]`"
                ),
            )
        })?;
    if metas.is_empty() {
        return Err(syn::Error::new_spanned(
            attr,
            "empty `#[trace()]`; expected `skip` or `opaque`",
        ));
    }
    for meta in &metas {
        let path = meta.path();
        let key = if path.is_ident("skip") {
            Key::Skip
        } else if path.is_ident("opaque") {
            Key::Opaque
        } else {
            Key::Unknown
        };
        let name = path
            .segments
            .iter()
            .map(|s| s.ident.to_string())
            .collect::<Vec<_>>()
            .join("::");
        let value_tokens = match meta {
            Meta::Path(_) => None,
            Meta::List(_) | Meta::NameValue(_) => Some(meta.to_token_stream()),
        };
        entries.push(Entry {
            key,
            name,
            key_tokens: path.to_token_stream(),
            value_tokens,
        });
    }
    Ok(())
}
