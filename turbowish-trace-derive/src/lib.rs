//! `#[derive(Trace)]` for TurboWish typed heap walks.
//!
//! The derive implements `turbowish_alloc::Trace` for a struct or an enum:
//! the walk visits every field, so that each heap block the value owns is
//! reported with its type and the field path that leads to it. Use it
//! through `turbowish_alloc` (feature `derive`, on by default), which
//! re-exports it under the trait's name, or through the `turbowish` facade,
//! which re-exports a twin whose code names `::turbowish` instead (the
//! `FacadeTrace` derive):
//!
//! ```ignore
//! use std::any::Any;
//! use turbowish_alloc::Trace;
//!
//! #[derive(Trace)]
//! struct Cache<K> {
//!     name: String,              // label "name"
//!     entries: Vec<Entry<K>>,    // label "entries"; inside the buffer, "[]"
//!     #[trace(skip)]
//!     scratch: Vec<u8>,          // not visited
//!     #[trace(opaque)]
//!     extension: Box<dyn Any>,   // its block is counted, its contents are not walked
//! }
//!
//! #[derive(Trace)]
//! struct Entry<K>(K, Option<Box<[u8]>>); // labels "0" and "1"
//!
//! #[derive(Trace)]
//! enum State {
//!     Idle,                          // nothing to trace
//!     Reading { buf: Vec<u8> },      // label "Reading.buf"
//!     Failed(Box<dyn std::error::Error + Send + Sync>), // label "Failed.0"
//! }
//! ```
//!
//! # What it generates
//!
//! For `Cache<K>` above, in effect:
//!
//! ```ignore
//! impl<K: ::turbowish_alloc::Trace> ::turbowish_alloc::Trace for Cache<K> {
//!     fn trace(&self, tracer: &mut ::turbowish_alloc::Tracer<'_>) {
//!         tracer.field("name", &self.name);
//!         tracer.field("entries", &self.entries);
//!         tracer.skip();
//!         tracer.labeled("extension", |t| t.opaque(&self.extension));
//!     }
//!     fn is_leaf() -> bool {
//!         false // a skipped or opaque field: see below
//!     }
//! }
//! ```
//!
//! - **Bounds.** Every type parameter gets a `Trace` bound, as `serde_derive`
//!   does for `Serialize`; lifetimes, const parameters and the type's where
//!   clause are kept. A parameter that only appears in `PhantomData` still
//!   needs `Trace`.
//! - **Labels.** A named field is labelled with its name (`name`, raw
//!   identifiers without their `r#`), a tuple field with its index (`0`,
//!   `1`). In an enum the variant's name comes first: `Reading.buf`,
//!   `Failed.0`. The tracer joins labels with `.` into the path from the
//!   nearest heap block that holds the field; the path starts again at each
//!   heap block, and a container's elements are labelled `[]` (so a field
//!   `boxed` of an element of a `Vec` field is `[].boxed`, held by the
//!   `Vec`'s buffer).
//! - **Enums** trace the fields of the variant the value is in
//!   (`match self { ... }`); an enum without variants traces nothing.
//! - **`is_leaf`** is true when no value of the type can own heap memory:
//!   every field is traced and its type's `is_leaf` is true (a unit struct
//!   or an enum of unit variants is a leaf). A skipped or opaque field makes
//!   it false, so that containers still visit each value and the walk can
//!   tell the snapshot what it did not look at. So does a field whose type
//!   may be unsized as written (`[T]`, `str`, `dyn Trait`, a parameter
//!   declared `?Sized`), since `is_leaf` needs a sized type.
//!
//! # Field attributes
//!
//! - `#[trace(skip)]`: the field is never touched; the walk calls
//!   `Tracer::skip`, which marks the block holding the value as incompletely
//!   walked, so the snapshot keeps the conservative scan's edges for it. Use
//!   it for fields whose type has no `Trace` impl and whose memory you accept
//!   to see only through the conservative scan.
//! - `#[trace(opaque)]`: the field's own heap block is reported, under the
//!   field's label, through `Tracer::opaque`, without looking inside it. The
//!   field's type must implement `turbowish_alloc::Opaque` (`Box<T>`,
//!   `Vec<T>`, `String`, `Arc<T>`, `Rc<T>`), not `Trace`: use it for a
//!   `Box<dyn Trait>` or a `Vec` of a foreign type.
//!
//! `#[trace(...)]` is accepted on fields only. A field takes at most one of
//! the two keys, once, without a value. Anything else is a compile error at
//! the offending tokens, as is deriving `Trace` for a `union` (a walk cannot
//! know which field is live).

mod ast;
mod attr;
mod expand;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

use expand::Krate;

/// Derives `turbowish_alloc::Trace`; see the [crate documentation](crate).
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    derive(input, Krate("turbowish_alloc"))
}

/// Derives `turbowish::Trace`: the same derive for users of the `turbowish`
/// facade crate, which re-exports it as `Trace`. Its code names
/// `::turbowish`, since a user who depends on the facade alone has no crate
/// named `turbowish_alloc` in scope.
#[doc(hidden)]
#[proc_macro_derive(FacadeTrace, attributes(trace))]
pub fn derive_facade_trace(input: TokenStream) -> TokenStream {
    derive(input, Krate("turbowish"))
}

fn derive(input: TokenStream, krate: Krate) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input, krate)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
