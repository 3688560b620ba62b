//! The event's bytes handed to the handler as the Runtime API delivered them.
//!
//! lambda_runtime deserializes every event into the handler's payload type, through
//! `serde_path_to_error` over `serde_json`. For a full Kinesis batch (15 MB of JSON) that pass
//! alone, even into a single raw JSON value, was a large share of the invocation's work, and
//! the function then had to walk the text again for the few fields it uses. [`RawEvents`] is a
//! layer of the runtime, outside the one that deserializes: it takes each invocation's body and
//! leaves `null` in its place, so the handler's payload is `()` and it takes the bytes back by
//! request id ([`RawEvents::take`]). The runtime's layers are otherwise unchanged: the response,
//! errors and panics are reported as before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;

/// The bodies taken from invocations not yet handled, by request id. Cloning shares them: the
/// runtime gets the layer, the handler a clone.
#[derive(Clone, Default)]
pub struct RawEvents(Arc<Mutex<HashMap<String, Bytes>>>);

impl RawEvents {
    /// The body of the invocation `request_id`, once.
    pub fn take(&self, request_id: &str) -> Option<Bytes> {
        self.bodies().remove(request_id)
    }

    fn bodies(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        // A map of byte buffers cannot be left half-changed: a poisoned lock is still usable.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<S> Layer<S> for RawEvents {
    type Service = TakeBody<S>;

    fn layer(&self, inner: S) -> TakeBody<S> {
        TakeBody {
            inner,
            events: self.clone(),
        }
    }
}

/// The service [`RawEvents`] wraps around the runtime's.
pub struct TakeBody<S> {
    inner: S,
    events: RawEvents,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for TakeBody<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> S::Future {
        let body = std::mem::replace(&mut invocation.body, Bytes::from_static(b"null"));
        self.events
            .bodies()
            .insert(invocation.context.request_id.clone(), body);
        self.inner.call(invocation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_gets_the_body_and_the_runtime_gets_null() {
        let events = RawEvents::default();
        let mut service = events.layer(lambda_runtime::service_fn(
            |invocation: LambdaInvocation| async move {
                Ok::<_, std::convert::Infallible>(invocation.body)
            },
        ));
        let mut context = lambda_runtime::Context::default();
        context.request_id = "req-1".into();
        let invocation = LambdaInvocation {
            parts: http::Response::new(()).into_parts().0,
            body: Bytes::from_static(b"{\"Records\":[]}"),
            context,
        };
        let seen = block_on(service.call(invocation));
        assert_eq!(seen.unwrap(), Bytes::from_static(b"null"));
        assert_eq!(
            events.take("req-1"),
            Some(Bytes::from_static(b"{\"Records\":[]}"))
        );
        assert_eq!(events.take("req-1"), None);
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }
}
