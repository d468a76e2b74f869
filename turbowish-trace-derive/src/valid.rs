//! Checks on the parsed input, each failure a `syn::Error` at the tokens that
//! caused it; all of them are reported together.

use crate::ast::{Enum, Errors, Field, Input, Struct};
use crate::attr::{Attrs, Key};

impl Input<'_> {
    /// Checks every `#[trace(...)]` attribute of the input.
    pub(crate) fn validate(&self) -> syn::Result<()> {
        let mut errors = Errors::default();
        match self {
            Input::Struct(s) => s.validate(&mut errors),
            Input::Enum(e) => e.validate(&mut errors),
        }
        errors.finish()
    }
}

impl Struct<'_> {
    fn validate(&self, errors: &mut Errors) {
        not_here(&self.attrs, "a struct", errors);
        for field in &self.fields {
            field.validate(errors);
        }
    }
}

impl Enum<'_> {
    fn validate(&self, errors: &mut Errors) {
        not_here(&self.attrs, "an enum", errors);
        for variant in &self.variants {
            not_here(&variant.attrs, "an enum variant", errors);
            for field in &variant.fields {
                field.validate(errors);
            }
        }
    }
}

impl Field<'_> {
    fn validate(&self, errors: &mut Errors) {
        let entries = &self.attrs.entries;
        for (i, entry) in entries.iter().enumerate() {
            if entry.key == Key::Unknown {
                errors.push(syn::Error::new_spanned(
                    &entry.key_tokens,
                    format!(
                        "unknown trace attribute `{}`; expected `skip` or `opaque`",
                        entry.name
                    ),
                ));
                continue;
            }
            if let Some(value) = &entry.value_tokens {
                errors.push(syn::Error::new_spanned(
                    value,
                    format!(
                        "trace attribute `{0}` takes no value; write `#[trace({0})]`",
                        entry.name
                    ),
                ));
            }
            let earlier = &entries[..i];
            if earlier.iter().any(|e| e.key == entry.key) {
                errors.push(syn::Error::new_spanned(
                    &entry.key_tokens,
                    format!("duplicate trace attribute `{}`", entry.name),
                ));
            } else if entry.key == Key::Opaque && earlier.iter().any(|e| e.key == Key::Skip)
                || entry.key == Key::Skip && earlier.iter().any(|e| e.key == Key::Opaque)
            {
                errors.push(syn::Error::new_spanned(
                    &entry.key_tokens,
                    "a field cannot be both `skip` and `opaque`: `skip` leaves it out of the walk, \
                     `opaque` counts its heap block without looking inside; keep one",
                ));
            }
        }
    }
}

/// `#[trace(...)]` is only read on fields.
fn not_here(attrs: &Attrs<'_>, what: &str, errors: &mut Errors) {
    for attr in &attrs.attrs {
        errors.push(syn::Error::new_spanned(
            attr,
            format!(
                "`#[trace(...)]` is not supported on {what}; \
                 `skip` and `opaque` go on fields"
            ),
        ));
    }
}
