"""imgui-bundle's GLFW + OpenGL 3 renderer with a leaner draw pass (same pixels, less CPU per frame).

The stock `render()` saves and restores about fifteen pieces of GL state around every frame and goes through
PyOpenGL's checked wrappers for each draw command; on a software rasteriser it also blends every image quad.
This subclass keeps its shader, buffers, font textures and input handling and replaces only `render()`:

- no save/restore of GL state: this window's context is ours alone. What the next frame's clear needs is put
  back (the scissor test off).
- PyOpenGL's raw entry points for the per-command calls, and a texture bound only when it changes.
- the window and framebuffer sizes come from GLFW's resize callbacks, not from a query per frame: each query
  is an X server round trip (four a frame between this class and the window), a wait for the server that
  under load took milliseconds.
- quads whose texture is opaque (`gl_texture.is_opaque`) and whose vertices are all opaque are drawn with
  blending off: source-alpha blending with alpha 1 gives the source exactly, and Mesa llvmpipe then skips
  reading and mixing the destination (the image view is the largest quad on screen).
"""

from __future__ import annotations

import ctypes

import glfw
import numpy as np
import OpenGL.GL as gl
from imgui_bundle import imgui
from imgui_bundle.python_backends import compute_fb_scale
from imgui_bundle.python_backends.glfw_backend import GlfwRenderer
from OpenGL.raw.GL.VERSION.GL_1_1 import glBindTexture as _bind_texture
from OpenGL.raw.GL.VERSION.GL_1_1 import glDisable as _disable
from OpenGL.raw.GL.VERSION.GL_1_1 import glDrawElements as _draw_elements
from OpenGL.raw.GL.VERSION.GL_1_1 import glEnable as _enable
from OpenGL.raw.GL.VERSION.GL_1_1 import glScissor as _scissor
from OpenGL.raw.GL.VERSION.GL_1_5 import glBindBuffer as _bind_buffer
from OpenGL.raw.GL.VERSION.GL_1_5 import glBufferData as _buffer_data

from gui_utils.gl_texture import is_opaque

_INDEX_TYPE = gl.GL_UNSIGNED_SHORT if imgui.INDEX_SIZE == 2 else gl.GL_UNSIGNED_INT
_INDEX_CTYPE = ctypes.c_uint16 if imgui.INDEX_SIZE == 2 else ctypes.c_uint32
_COLOR_WORD = imgui.VERTEX_BUFFER_COL_OFFSET // 4  # ImDrawVert is 4-byte aligned: colour = uint32 word


def vertices_opaque(cmd_list, idx_offset: int, elem_count: int) -> bool:
    """Whether every vertex that the command's indices name has alpha 255 (ImGui packs colours as ABGR)."""
    indices = np.ctypeslib.as_array((_INDEX_CTYPE * elem_count).from_address(
        cmd_list.idx_buffer.data_address() + idx_offset * imgui.INDEX_SIZE))
    words = np.ctypeslib.as_array((ctypes.c_uint32 * (cmd_list.vtx_buffer.size() * imgui.VERTEX_SIZE // 4))
                                  .from_address(cmd_list.vtx_buffer.data_address()))
    colors = words.reshape(-1, imgui.VERTEX_SIZE // 4)[indices, _COLOR_WORD]
    return bool(((colors >> 24) == 255).all())


class LeanGlfwRenderer(GlfwRenderer):
    """`GlfwRenderer` with the draw pass and the size tracking described in the module docstring."""

    def __init__(self, window) -> None:
        super().__init__(window)  # installs self.resize_callback (below) as the window-size callback
        self.window_size: tuple[int, int] = tuple(glfw.get_window_size(window))
        self.framebuffer_size: tuple[int, int] = tuple(glfw.get_framebuffer_size(window))
        glfw.set_framebuffer_size_callback(window, self._on_framebuffer_size)

    def resize_callback(self, window, width: int, height: int) -> None:
        super().resize_callback(window, width, height)
        self.window_size = (int(width), int(height))

    def _on_framebuffer_size(self, _window, width: int, height: int) -> None:
        self.framebuffer_size = (int(width), int(height))

    def process_inputs(self) -> None:
        """The stock method without its two size queries (X round trips): the sizes the callbacks keep."""
        io = self.io
        io.display_size = imgui.ImVec2(*self.window_size)
        io.display_framebuffer_scale = imgui.ImVec2(*compute_fb_scale(self.window_size, self.framebuffer_size))
        now = glfw.get_time()
        io.delta_time = (now - self._gui_time) if self._gui_time else 1.0 / 60.0
        if io.delta_time <= 0.0:
            io.delta_time = 1.0 / 1000.0
        self._gui_time = now

    def render(self, draw_data: imgui.ImDrawData) -> None:
        io = self.io
        display_w, display_h = io.display_size
        scale = io.display_framebuffer_scale
        fb_width, fb_height = int(display_w * scale[0]), int(display_h * scale[1])
        self._update_textures()  # font atlas pages created or changed by ImGui this frame
        if fb_width == 0 or fb_height == 0:
            return
        draw_data.scale_clip_rects(scale)

        gl.glEnable(gl.GL_BLEND)
        gl.glBlendEquation(gl.GL_FUNC_ADD)
        gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
        gl.glDisable(gl.GL_CULL_FACE)
        gl.glDisable(gl.GL_DEPTH_TEST)
        gl.glEnable(gl.GL_SCISSOR_TEST)
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glViewport(0, 0, fb_width, fb_height)
        projection = (ctypes.c_float * 16)(2.0 / display_w, 0.0, 0.0, 0.0, 0.0, -2.0 / display_h, 0.0, 0.0,
                                           0.0, 0.0, -1.0, 0.0, -1.0, 1.0, 0.0, 1.0)
        gl.glUseProgram(self._shader_handle)
        gl.glUniform1i(self._attrib_location_tex, 0)
        gl.glUniformMatrix4fv(self._attrib_proj_mtx, 1, gl.GL_FALSE, projection)
        gl.glBindVertexArray(self._vao_handle)

        bound, blending = -1, True
        for cmd_list in draw_data.cmd_lists:
            _bind_buffer(gl.GL_ARRAY_BUFFER, self._vbo_handle)
            _buffer_data(gl.GL_ARRAY_BUFFER, cmd_list.vtx_buffer.size() * imgui.VERTEX_SIZE,
                         ctypes.c_void_p(cmd_list.vtx_buffer.data_address()), gl.GL_STREAM_DRAW)
            _bind_buffer(gl.GL_ELEMENT_ARRAY_BUFFER, self._elements_handle)
            _buffer_data(gl.GL_ELEMENT_ARRAY_BUFFER, cmd_list.idx_buffer.size() * imgui.INDEX_SIZE,
                         ctypes.c_void_p(cmd_list.idx_buffer.data_address()), gl.GL_STREAM_DRAW)
            for cmd in cmd_list.cmd_buffer:
                if cmd.elem_count == 0:
                    continue
                tex = cmd.tex_ref.get_tex_id()
                if tex != bound:
                    _bind_texture(gl.GL_TEXTURE_2D, tex)
                    bound = tex
                blend = not (is_opaque(tex) and vertices_opaque(cmd_list, cmd.idx_offset, cmd.elem_count))
                if blend != blending:
                    (_enable if blend else _disable)(gl.GL_BLEND)
                    blending = blend
                x0, y0, x1, y1 = cmd.clip_rect
                _scissor(int(x0), int(fb_height - y1), int(x1 - x0), int(y1 - y0))
                _draw_elements(gl.GL_TRIANGLES, cmd.elem_count, _INDEX_TYPE,
                               ctypes.c_void_p(cmd.idx_offset * imgui.INDEX_SIZE))
        # a scissor left on would limit the next frame's glClear to the last clip rectangle
        gl.glDisable(gl.GL_SCISSOR_TEST)
        gl.glEnable(gl.GL_BLEND)
