//! The derive input as the expansion sees it: a struct or an enum, its
//! fields with their labels and `#[trace(...)]` attributes.

use crate::attr::{self, Attrs, Key};
use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Fields, Generics, Ident, Member, Type};

/// A type `#[derive(Trace)]` accepts.
pub(crate) enum Input<'a> {
    /// A struct: named, tuple or unit.
    Struct(Struct<'a>),
    /// An enum, possibly without variants.
    Enum(Enum<'a>),
}

/// A struct and its fields.
pub(crate) struct Struct<'a> {
    /// The attributes on the struct itself (none are supported).
    pub(crate) attrs: Attrs<'a>,
    /// The struct's name.
    pub(crate) ident: &'a Ident,
    /// Its generics, as written.
    pub(crate) generics: &'a Generics,
    /// Its fields, in order.
    pub(crate) fields: Vec<Field<'a>>,
}

/// An enum and its variants.
pub(crate) struct Enum<'a> {
    /// The attributes on the enum itself (none are supported).
    pub(crate) attrs: Attrs<'a>,
    /// The enum's name.
    pub(crate) ident: &'a Ident,
    /// Its generics, as written.
    pub(crate) generics: &'a Generics,
    /// Its variants, in order.
    pub(crate) variants: Vec<Variant<'a>>,
}

/// An enum variant.
pub(crate) struct Variant<'a> {
    /// The attributes on the variant (none are supported).
    pub(crate) attrs: Attrs<'a>,
    /// The variant's name.
    pub(crate) ident: &'a Ident,
    /// Its fields, in order; labels are prefixed with the variant's name.
    pub(crate) fields: Vec<Field<'a>>,
}

/// A field of a struct or a variant.
pub(crate) struct Field<'a> {
    /// Its `#[trace(...)]` attributes.
    pub(crate) attrs: Attrs<'a>,
    /// How it is reached: `self.name` or `self.0`.
    pub(crate) member: Member,
    /// The label the walk reports: `name`, `0`, `Variant.name`, `Variant.0`.
    pub(crate) label: String,
    /// Its type.
    pub(crate) ty: &'a Type,
}

/// What the walk does with a field.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `Tracer::field`: the field's own `Trace` impl.
    Trace,
    /// `#[trace(skip)]`: `Tracer::skip`, the field is not touched.
    Skip,
    /// `#[trace(opaque)]`: `Tracer::opaque`, its block is counted only.
    Opaque,
}

impl Field<'_> {
    /// What the walk does with this field (valid once validation passed).
    pub(crate) fn mode(&self) -> Mode {
        if self.attrs.has(Key::Skip) {
            Mode::Skip
        } else if self.attrs.has(Key::Opaque) {
            Mode::Opaque
        } else {
            Mode::Trace
        }
    }
}

impl<'a> Input<'a> {
    /// Reads `input`; fails on unions and on malformed `#[trace]` syntax,
    /// with every such error combined.
    pub(crate) fn from_syn(input: &'a DeriveInput) -> syn::Result<Self> {
        let mut errors = Errors::default();
        let attrs = errors.take(attr::get(&input.attrs));
        let result = match &input.data {
            Data::Struct(data) => {
                let fields = fields(&data.fields, None, &mut errors);
                attrs.map(|attrs| {
                    Input::Struct(Struct {
                        attrs,
                        ident: &input.ident,
                        generics: &input.generics,
                        fields,
                    })
                })
            }
            Data::Enum(data) => {
                let variants = data
                    .variants
                    .iter()
                    .map(|v| {
                        let attrs = errors.take(attr::get(&v.attrs));
                        let fields = fields(&v.fields, Some(&v.ident), &mut errors);
                        attrs.map(|attrs| Variant {
                            attrs,
                            ident: &v.ident,
                            fields,
                        })
                    })
                    .collect::<Vec<_>>();
                match (attrs, variants.into_iter().collect::<Option<Vec<_>>>()) {
                    (Some(attrs), Some(variants)) => Some(Input::Enum(Enum {
                        attrs,
                        ident: &input.ident,
                        generics: &input.generics,
                        variants,
                    })),
                    _ => None,
                }
            }
            Data::Union(data) => {
                errors.push(syn::Error::new_spanned(
                    data.union_token,
                    "Trace cannot be derived for unions",
                ));
                None
            }
        };
        errors.finish()?;
        Ok(result.expect("no errors, so every part was read"))
    }
}

/// The fields of a struct or of `variant`.
fn fields<'a>(fields: &'a Fields, variant: Option<&Ident>, errors: &mut Errors) -> Vec<Field<'a>> {
    fields
        .iter()
        .enumerate()
        .filter_map(|(i, field)| {
            let attrs = errors.take(attr::get(&field.attrs))?;
            let (member, name) = match &field.ident {
                Some(ident) => (Member::Named(ident.clone()), ident.unraw().to_string()),
                None => (
                    Member::Unnamed(syn::Index {
                        index: i as u32,
                        span: Span::call_site(),
                    }),
                    i.to_string(),
                ),
            };
            let label = match variant {
                Some(v) => format!("{}.{name}", v.unraw()),
                None => name,
            };
            Some(Field {
                attrs,
                member,
                label,
                ty: &field.ty,
            })
        })
        .collect()
}

/// Errors gathered while reading, reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Records `error`.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// The value of `result`, or `None` after recording its error.
    pub(crate) fn take<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }

    /// `Err` with every recorded error, if there was one.
    pub(crate) fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
