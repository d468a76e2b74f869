//! Call stacks: how each allocation's stack is captured ([`walk`]), stored
//! once and named by an id ([`intern`]), and the settings that choose the
//! capture mode and depth ([`settings`]).

pub(crate) mod intern;
pub(crate) mod settings;
pub(crate) mod walk;
