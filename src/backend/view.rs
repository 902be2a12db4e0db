//! Views into a backend's buffers: ranges cut the way slices are, so that
//! code written against any [`super::Backend`] reads like code over `&[S]`.
//! For the CPU the views are the slices themselves.

use std::fmt::Debug;
use std::ops::Range;

/// A shared view of a range of a buffer (`&[S]` on the CPU).
pub trait View: Copy + Debug {
    /// Number of scalars in view.
    fn len(&self) -> usize;
    /// Whether the view is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The part `r` of this view (indices relative to its start).
    ///
    /// # Panics
    /// If `r` runs past the view (a layout bug).
    fn sub(self, r: Range<usize>) -> Self;
}

/// An exclusive view of a range of a buffer (`&mut [S]` on the CPU).
pub trait ViewMut: Debug + Sized {
    /// The shared view of the same range.
    type Ref: View;
    /// Number of scalars in view.
    fn len(&self) -> usize;
    /// Whether the view is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The part `r` of this view (indices relative to its start).
    ///
    /// # Panics
    /// If `r` runs past the view (a layout bug).
    fn sub(self, r: Range<usize>) -> Self;
    /// Two exclusive views: `[..mid]` and `[mid..]`.
    fn split(self, mid: usize) -> (Self, Self);
    /// Give up exclusivity.
    fn into_ref(self) -> Self::Ref;
}

impl<S: Debug> View for &[S] {
    #[inline]
    fn len(&self) -> usize {
        <[S]>::len(self)
    }
    #[inline]
    fn sub(self, r: Range<usize>) -> Self {
        &self[r]
    }
}

impl<'a, S: Debug> ViewMut for &'a mut [S] {
    type Ref = &'a [S];
    #[inline]
    fn len(&self) -> usize {
        <[S]>::len(self)
    }
    #[inline]
    fn sub(self, r: Range<usize>) -> Self {
        &mut self[r]
    }
    #[inline]
    fn split(self, mid: usize) -> (Self, Self) {
        self.split_at_mut(mid)
    }
    #[inline]
    fn into_ref(self) -> &'a [S] {
        self
    }
}

/// Slot `i` of a view cut into pieces of `len` scalars, `[i·len..(i+1)·len]`:
/// "step `s` of a `(T, B, H)` buffer" is `slot(v, B·H, s)`.
pub fn slot<V: View>(v: V, len: usize, i: usize) -> V {
    v.sub(i * len..(i + 1) * len)
}

/// Exclusive view of slot `i` (see [`slot`]).
pub fn slot_mut<V: ViewMut>(v: V, len: usize, i: usize) -> V {
    v.sub(i * len..(i + 1) * len)
}

/// Two distinct slots `a` and `b` (`len` scalars each) of one buffer, the
/// first shared and the second exclusive.
///
/// # Panics
/// If `a == b`.
pub fn slot_pair<V: ViewMut>(v: V, len: usize, a: usize, b: usize) -> (V::Ref, V) {
    assert_ne!(a, b, "slot_pair needs two distinct slots");
    if a < b {
        let (lo, hi) = v.split(b * len);
        (lo.sub(a * len..(a + 1) * len).into_ref(), hi.sub(0..len))
    } else {
        let (lo, hi) = v.split(a * len);
        (hi.sub(0..len).into_ref(), lo.sub(b * len..(b + 1) * len))
    }
}
