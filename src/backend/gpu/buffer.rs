//! [`GpuBuf`], a buffer of f32 values in device memory, and its views
//! [`GpuRef`] and [`GpuMut`]: a buffer, an offset and a length, cut the way
//! slices are. Kernels bind whole buffers and take the offsets as
//! parameters (a storage binding's offset must be 256-byte aligned; a
//! view's is any multiple of 4).

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;

use super::context::Context;
use crate::backend::{View, ViewMut};

/// f32 values in device memory. `Default` is an empty buffer that belongs
/// to no device yet (the backend allocates it on its first resize).
#[derive(Default)]
pub struct GpuBuf {
    pub(super) len: usize,
    pub(super) inner: Option<(Arc<Context>, wgpu::Buffer)>,
}

impl std::fmt::Debug for GpuBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuBuf({} values)", self.len)
    }
}

impl Clone for GpuBuf {
    /// A new buffer with a copy of the values (recorded on the device).
    fn clone(&self) -> Self {
        let Some((ctx, buf)) = &self.inner else {
            return GpuBuf {
                len: self.len,
                inner: None,
            };
        };
        let copy = ctx.buffer(self.len);
        ctx.copy(buf, 0, &copy, 0, self.len as u64 * 4);
        GpuBuf {
            len: self.len,
            inner: Some((ctx.clone(), copy)),
        }
    }
}

impl GpuBuf {
    pub(super) fn raw(&self) -> Option<&wgpu::Buffer> {
        self.inner.as_ref().map(|(_, b)| b)
    }
}

/// A shared view: `len` values of `buf` from `off`.
#[derive(Clone, Copy, Debug)]
pub struct GpuRef<'a> {
    pub(super) buf: Option<&'a wgpu::Buffer>,
    pub(super) off: usize,
    pub(super) len: usize,
}

/// An exclusive view: `len` values of `buf` from `off`.
#[derive(Debug)]
pub struct GpuMut<'a> {
    pub(super) buf: Option<&'a wgpu::Buffer>,
    pub(super) off: usize,
    pub(super) len: usize,
    pub(super) _excl: PhantomData<&'a mut f32>,
}

/// `r` within a view of `len` values, checked as slices check it.
fn check(r: &Range<usize>, len: usize) {
    assert!(
        r.start <= r.end && r.end <= len,
        "view range {r:?} out of bounds of {len} values"
    );
}

impl<'a> GpuRef<'a> {
    /// The buffer (`None` for an empty view) and the offset as a kernel
    /// parameter.
    pub(super) fn arg(&self) -> (Option<&'a wgpu::Buffer>, u32) {
        (self.buf.filter(|_| self.len > 0), self.off as u32)
    }
}

impl<'a> GpuMut<'a> {
    /// See [`GpuRef::arg`].
    pub(super) fn arg(&self) -> (Option<&'a wgpu::Buffer>, u32) {
        (self.buf.filter(|_| self.len > 0), self.off as u32)
    }

    pub(super) fn new(buf: Option<&'a wgpu::Buffer>, off: usize, len: usize) -> Self {
        GpuMut {
            buf,
            off,
            len,
            _excl: PhantomData,
        }
    }
}

impl View for GpuRef<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn sub(self, r: Range<usize>) -> Self {
        check(&r, self.len);
        GpuRef {
            buf: self.buf,
            off: self.off + r.start,
            len: r.len(),
        }
    }
}

impl<'a> ViewMut for GpuMut<'a> {
    type Ref = GpuRef<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn sub(self, r: Range<usize>) -> Self {
        check(&r, self.len);
        GpuMut::new(self.buf, self.off + r.start, r.len())
    }

    fn split(self, mid: usize) -> (Self, Self) {
        check(&(0..mid), self.len);
        (
            GpuMut::new(self.buf, self.off, mid),
            GpuMut::new(self.buf, self.off + mid, self.len - mid),
        )
    }

    fn into_ref(self) -> GpuRef<'a> {
        GpuRef {
            buf: self.buf,
            off: self.off,
            len: self.len,
        }
    }
}
