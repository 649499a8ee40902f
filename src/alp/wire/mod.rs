//! ALP bytes on the wire: the JSON value type with its Python-compatible canonical form
//! (what signatures cover) and compact wire form.

pub mod envelope;
pub mod json;
