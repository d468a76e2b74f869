//! [`Trace`] for tokio's synchronization types (feature `tokio`).
//!
//! Channel handles hide their shared state behind private `Arc`s, so a walk
//! scans the handle's own bytes ([`Tracer::scan`]): the channel's block is
//! found exactly as the conservative scan would find it, but the edge carries
//! the field path that holds the handle. Locks are tried, never awaited.

use super::{Trace, Tracer};
use tokio::sync::{Mutex, Notify, RwLock, Semaphore, broadcast, mpsc, oneshot, watch};

macro_rules! handle {
    ($($t:ty),* $(,)?) => {$(
        impl<T> Trace for $t {
            fn trace(&self, tracer: &mut Tracer<'_>) {
                tracer.scan(self);
            }
        }
    )*};
}

handle!(
    mpsc::Sender<T>,
    mpsc::Receiver<T>,
    mpsc::UnboundedSender<T>,
    mpsc::UnboundedReceiver<T>,
    mpsc::WeakSender<T>,
    broadcast::Sender<T>,
    broadcast::Receiver<T>,
    watch::Sender<T>,
    watch::Receiver<T>,
    oneshot::Sender<T>,
    oneshot::Receiver<T>,
);

impl Trace for Notify {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.scan(self);
    }
}

impl Trace for Semaphore {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        tracer.scan(self);
    }
}

impl<T: ?Sized + Trace> Trace for Mutex<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self.try_lock() {
            Ok(guard) => super::impls::under_guard(tracer, "lock", guard),
            Err(_) => tracer.locked(self),
        }
    }
}

impl<T: ?Sized + Trace> Trace for RwLock<T> {
    fn trace(&self, tracer: &mut Tracer<'_>) {
        match self.try_read() {
            Ok(guard) => super::impls::under_guard(tracer, "lock", guard),
            Err(_) => tracer.locked(self),
        }
    }
}
