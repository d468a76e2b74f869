//! Code generation: the `impl Trace` block.

use crate::ast::{Enum, Field, Input, Mode, Struct};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    DeriveInput, Generics, Ident, Index, Member, Type, TypeParamBound, WherePredicate, parse_quote,
};

/// The crate whose `Trace` and `Tracer` the generated code names, by its
/// name in the user's extern prelude: `turbowish_alloc`, or the `turbowish`
/// facade, which re-exports them (a user of the facade may have no crate
/// named `turbowish_alloc` in scope).
#[derive(Clone, Copy)]
pub(crate) struct Krate(pub(crate) &'static str);

impl Krate {
    /// `::krate::item`, every token at `span`.
    fn path(self, item: &str, span: Span) -> TokenStream {
        let krate = Ident::new(self.0, span);
        let item = Ident::new(item, span);
        quote_spanned!(span=> ::#krate::#item)
    }
}

/// Expands `#[derive(Trace)]` on `input` for `krate`, or returns every
/// error found.
pub(crate) fn derive(input: &DeriveInput, krate: Krate) -> syn::Result<TokenStream> {
    let input = Input::from_syn(input)?;
    input.validate()?;
    Ok(match &input {
        Input::Struct(s) => impl_struct(s, krate),
        Input::Enum(e) => impl_enum(e, krate),
    })
}

fn impl_struct(input: &Struct<'_>, krate: Krate) -> TokenStream {
    let calls = input.fields.iter().map(|field| {
        let span = at(field);
        let member = match &field.member {
            Member::Named(ident) => {
                let mut ident = ident.clone();
                ident.set_span(span);
                Member::Named(ident)
            }
            Member::Unnamed(index) => Member::Unnamed(Index {
                index: index.index,
                span,
            }),
        };
        trace_call(field, quote_spanned!(span=> &self.#member))
    });
    let body = quote!(#(#calls)*);
    let leaf = is_leaf(krate, input.generics, &input.fields);
    implement(krate, input.ident, input.generics, body, leaf)
}

fn impl_enum(input: &Enum<'_>, krate: Krate) -> TokenStream {
    let body = if input.variants.is_empty() {
        quote!(match *self {})
    } else {
        let arms = input.variants.iter().map(|variant| {
            let ident = variant.ident;
            // Every field is bound as `__field{i}` (tuple fields have no
            // name), located at its type so that errors point there. The
            // names have call-site hygiene, like serde's: a mixed-site span
            // would move every error about the field to the derive itself.
            let bindings: Vec<Ident> = variant
                .fields
                .iter()
                .enumerate()
                .map(|(i, field)| format_ident!("__field{}", i, span = at(field)))
                .collect();
            let pattern = variant
                .fields
                .iter()
                .zip(&bindings)
                .filter(|(field, _)| field.mode() != Mode::Skip)
                .map(|(field, binding)| {
                    let member = &field.member;
                    quote!(#member: #binding)
                });
            let calls = variant
                .fields
                .iter()
                .zip(&bindings)
                .map(|(field, binding)| trace_call(field, quote!(#binding)));
            quote! {
                Self::#ident { #(#pattern,)* .. } => { #(#calls)* }
            }
        });
        quote! {
            match self {
                #(#arms)*
            }
        }
    };
    let fields: Vec<&Field<'_>> = input.variants.iter().flat_map(|v| &v.fields).collect();
    let leaf = is_leaf(krate, input.generics, fields);
    implement(krate, input.ident, input.generics, body, leaf)
}

/// The `trace` method's tracer argument, which nothing the user names can
/// shadow (its span resolves at the mixed site).
fn tracer_ident(span: Span) -> Ident {
    Ident::new("__tracer", span)
}

/// A span that resolves at the call site, as `self` and the bindings must,
/// but points at `field`'s type, where errors about the field belong.
fn at(field: &Field<'_>) -> Span {
    Span::call_site().located_at(field.ty.span())
}

/// A span that resolves at the mixed site, as the generated locals do, but
/// points at `field`'s type.
fn located(field: &Field<'_>) -> Span {
    Span::mixed_site().located_at(field.ty.span())
}

/// The statement that reports one field, whose reference is `value`.
///
/// Every token of the call points at the field's type, so that a missing
/// `Trace` or `Opaque` impl is reported there rather than at the derive.
fn trace_call(field: &Field<'_>, value: TokenStream) -> TokenStream {
    let label = &field.label;
    let span = at(field);
    let tracer = tracer_ident(located(field));
    let t = Ident::new("__t", located(field));
    match field.mode() {
        Mode::Trace => quote_spanned! {span=>
            #tracer.field(#label, #value);
        },
        Mode::Skip => quote! {
            #tracer.skip();
        },
        Mode::Opaque => quote_spanned! {span=>
            #tracer.labeled(#label, |#t| #t.opaque(#value));
        },
    }
}

/// The body of `is_leaf`: true only when every field is traced and is a leaf
/// itself. A skipped or opaque field, or a field of a type that may be
/// unsized (on which `is_leaf` cannot be called), makes the type a non-leaf,
/// so that containers still visit its values.
fn is_leaf<'a>(
    krate: Krate,
    generics: &Generics,
    fields: impl IntoIterator<Item = &'a Field<'a>>,
) -> TokenStream {
    let unsized_params = unsized_params(generics);
    let mut leaf: Option<TokenStream> = None;
    for field in fields {
        if field.mode() != Mode::Trace || maybe_unsized(field.ty, &unsized_params) {
            return quote!(false);
        }
        let ty = field.ty;
        let trace = krate.path("Trace", ty.span());
        let term = quote_spanned!(ty.span()=> <#ty as #trace>::is_leaf());
        leaf = Some(match leaf {
            Some(before) => quote!(#before && #term),
            None => term,
        });
    }
    leaf.unwrap_or_else(|| quote!(true))
}

/// The type parameters declared `?Sized`, in their list or the where clause.
fn unsized_params(generics: &Generics) -> Vec<&Ident> {
    let relaxed = |bounds: &syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>| {
        bounds.iter().any(|b| {
            matches!(b, TypeParamBound::Trait(t)
                if matches!(t.modifier, syn::TraitBoundModifier::Maybe(_)))
        })
    };
    let mut params: Vec<&Ident> = generics
        .type_params()
        .filter(|p| relaxed(&p.bounds))
        .map(|p| &p.ident)
        .collect();
    for predicate in generics.where_clause.iter().flat_map(|w| &w.predicates) {
        if let WherePredicate::Type(p) = predicate
            && relaxed(&p.bounds)
            && let Type::Path(path) = &p.bounded_ty
            && path.qself.is_none()
            && let Some(ident) = path.path.get_ident()
        {
            params.push(ident);
        }
    }
    params
}

/// Whether `ty` is, as written, a type that may be unsized: a slice, `str`,
/// a trait object, or a type parameter declared `?Sized`.
fn maybe_unsized(ty: &Type, unsized_params: &[&Ident]) -> bool {
    match ty {
        Type::Slice(_) | Type::TraitObject(_) => true,
        Type::Paren(t) => maybe_unsized(&t.elem, unsized_params),
        Type::Group(t) => maybe_unsized(&t.elem, unsized_params),
        Type::Path(p) if p.qself.is_none() => {
            let path = &p.path;
            if let Some(ident) = path.get_ident() {
                return ident == "str" || unsized_params.contains(&ident);
            }
            // `core::primitive::str`, `std::primitive::str`
            let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            path.segments.iter().all(|s| s.arguments.is_none())
                && names.len() >= 2
                && names[names.len() - 2..] == ["primitive", "str"]
        }
        _ => false,
    }
}

/// The `impl` block: every type parameter gains a `Trace` bound (as
/// `serde_derive` does); lifetimes, const parameters and the where clause
/// are kept.
fn implement(
    krate: Krate,
    ident: &Ident,
    generics: &Generics,
    body: TokenStream,
    leaf: TokenStream,
) -> TokenStream {
    let trace = krate.path("Trace", Span::call_site());
    let tracer_type = krate.path("Tracer", Span::call_site());
    let mut generics = generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(parse_quote!(#trace));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let tracer = tracer_ident(Span::mixed_site());
    quote! {
        #[automatically_derived]
        impl #impl_generics #trace for #ident #ty_generics #where_clause {
            fn trace(&self, #tracer: &mut #tracer_type<'_>) {
                #body
            }

            #[inline]
            fn is_leaf() -> bool {
                #leaf
            }
        }
    }
}
