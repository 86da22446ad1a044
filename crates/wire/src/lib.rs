//! smbus-proxy's wire protocol, shared by the server and every client.
//!
//! This crate owns:
//! - [`pb`]: the gRPC types and service stubs generated from `proto/smbus/v1/smbus.proto`
//!   (compiled at build time with protox, so no system `protoc` is needed);
//! - [`op`]: the one operation model ([`Op`], [`Command`], [`Msg`], [`Reply`]) with the kernel's
//!   limits; [`step`]: a transaction's steps ([`Step`]), operations and the waiting between
//!   them done on the bus; [`line`]: GPIO lines, their settings and the steps and edge
//!   events of a transaction on them;
//! - [`decode`]: wire → model, the one place arguments are validated ([`ArgError`] names the
//!   field and the allowed range); [`encode`]: model → wire;
//! - [`lower`]: an operation as the I2C messages it puts on the wire; [`notation`]: operations
//!   and replies as text, both ways;
//! - [`event`]: what a watch sees, the one model of an event; [`trace`]: events as lines of a
//!   trace file, both ways;
//! - [`discovery`]: what a server announces with DNS-SD, and the `mdns://NAME` form a client
//!   names it by;
//! - [`quote`]: what an error message shows of outside text (at most 40 characters);
//! - [`errno`]: the errno ↔ [`ErrorKind`] mapping; [`funcs`]: the `I2C_FUNC_*` bits.
//!
//! It must not do I/O, hold state, or depend on anything platform-specific: clients on
//! macOS and Windows build it too.

pub mod decode;
pub mod discovery;
pub mod encode;
pub mod errno;
pub mod event;
pub mod funcs;
pub mod line;
pub mod lower;
pub mod notation;
pub mod op;
pub mod quote;
pub mod step;
pub mod trace;

pub use decode::ArgError;
pub use errno::{Errno, ErrorKind, Failure};
pub use line::{Edge, Edges, LineEvent, LineSettings, LineStep};
pub use op::{Command, Dir, Msg, Op, Reply, Returns, Sends, Target};
pub use step::{Match, Poll, Step};

/// Generated protobuf types and gRPC stubs for `smbus.v1`.
pub mod pb {
    // Generated: the .proto's comments become docs where it has them.
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("smbus.v1");

    /// The encoded descriptor set of every `.proto`, for the gRPC reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));
}

/// The original Python smbus-proxy's interface (`proto/legacy/smbus_rcp.proto`, no package).
pub mod legacy {
    #![allow(clippy::all, missing_docs, non_camel_case_types)]
    include!(concat!(env!("OUT_DIR"), "/_.rs"));
}
