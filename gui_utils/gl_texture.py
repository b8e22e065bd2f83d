"""OpenGL 3.3 core-profile textures for ImGui: upload uint8 images, nothing fixed-function."""

from __future__ import annotations

import numpy as np
import OpenGL.GL as gl


def _as_rgba(image: np.ndarray) -> np.ndarray:
    """HW, HW1, HW3 or HW4 uint8 -> contiguous HW4 uint8 (core profile has no GL_LUMINANCE)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f'texture images must be uint8, got {image.dtype}')
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f'texture images must be HW, HWC with C in 1, 3, 4; got shape {image.shape}')
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    if image.shape[2] == 3:
        alpha = np.full(image.shape[:2] + (1,), 255, np.uint8)
        image = np.concatenate([image, alpha], axis=2)
    return np.ascontiguousarray(image)


# GL names of the textures whose every texel has alpha 255: the renderer may draw them with blending off.
_opaque_ids: set[int] = set()


def is_opaque(gl_id: int) -> bool:
    """Whether `gl_id` is a live `Texture` whose every texel has alpha 255."""
    return gl_id in _opaque_ids


class Texture:
    """A 2-D RGBA texture; `update()` re-uploads in place when the size is unchanged."""

    def __init__(self, image: np.ndarray, nearest: bool = True) -> None:
        self.gl_id = int(gl.glGenTextures(1))
        self.width = self.height = 0
        self.nearest = nearest
        self.update(image)

    def update(self, image: np.ndarray) -> None:
        rgba = _as_rgba(image)
        height, width = rgba.shape[:2]
        if np.asarray(image).ndim == 3 and np.asarray(image).shape[2] == 4 and not (rgba[:, :, 3] == 255).all():
            _opaque_ids.discard(self.gl_id)
        else:
            _opaque_ids.add(self.gl_id)
        last = gl.glGetIntegerv(gl.GL_TEXTURE_BINDING_2D)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.gl_id)
        gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
        gl.glPixelStorei(gl.GL_UNPACK_ROW_LENGTH, 0)
        if (width, height) == (self.width, self.height):
            gl.glTexSubImage2D(gl.GL_TEXTURE_2D, 0, 0, 0, width, height, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, rgba)
        else:
            filt = gl.GL_NEAREST if self.nearest else gl.GL_LINEAR
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, filt)
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MAG_FILTER, filt)
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_S, gl.GL_CLAMP_TO_EDGE)
            gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_WRAP_T, gl.GL_CLAMP_TO_EDGE)
            gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGBA8, width, height, 0, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, rgba)
            self.width, self.height = width, height
        gl.glBindTexture(gl.GL_TEXTURE_2D, last)

    def delete(self) -> None:
        if self.gl_id:
            _opaque_ids.discard(self.gl_id)
            gl.glDeleteTextures([self.gl_id])
            self.gl_id = 0


class TextureCache:
    """Named textures re-used across frames, so a view that updates every frame does not leak GL objects."""

    def __init__(self) -> None:
        self._textures: dict[str, tuple[np.ndarray, Texture]] = {}

    def get(self, name: str, image: np.ndarray, nearest: bool = True) -> Texture:
        """Texture for `image`; uploads only when a different array object arrives (results are immutable)."""
        entry = self._textures.get(name)
        if entry is None:
            tex = Texture(image, nearest=nearest)
            self._textures[name] = (image, tex)
            return tex
        old_image, tex = entry
        if old_image is not image:  # holding the old array keeps its identity from being reused
            tex.update(image)
            self._textures[name] = (image, tex)
        return tex

    def clear(self) -> None:
        for _key, tex in self._textures.values():
            tex.delete()
        self._textures.clear()
