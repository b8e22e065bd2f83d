"""Every image file the project reads goes through networks.image_io: a walk over the source (everything but
tests/, virtual environments and the NVlabs checkout) fails on any other ``Image.open`` / ``PIL.Image.open`` call,
``from PIL.Image import open``, or another library's ``imread``. Checked by parsing each file with ``ast``."""

from __future__ import annotations

import ast
import os

import pytest

from tests.test_import_rules import ROOT, python_files

READER = 'networks/image_io.py'
EXEMPT = ('tests/',)   # tests may look at what the code wrote with plain Pillow


def _is_image_module(node: ast.expr) -> bool:
    # `Image` (from PIL import Image), `PIL.Image`, `PIL.Image` under any alias ending in `.Image`
    return (isinstance(node, ast.Name) and node.id == 'Image') or \
        (isinstance(node, ast.Attribute) and node.attr == 'Image')


def image_opens(source: str, relpath: str) -> list[str]:
    """'path:line: what' for every way of opening an image file in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source, relpath)):
        what = None
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == 'open' and _is_image_module(func.value):
                what = 'Image.open'
            elif (isinstance(func, ast.Attribute) and func.attr == 'imread') or \
                    (isinstance(func, ast.Name) and func.id == 'imread'):
                what = 'imread'
            elif (isinstance(func, ast.Name) and func.id == 'getattr' and len(node.args) >= 2
                  and _is_image_module(node.args[0]) and isinstance(node.args[1], ast.Constant)
                  and node.args[1].value == 'open'):
                what = "getattr(Image, 'open')"
        elif isinstance(node, ast.ImportFrom) and node.module in ('PIL.Image', 'Image') and \
                any(alias.name == 'open' for alias in node.names):
            what = 'from PIL.Image import open'
        if what:
            found.append(f'{relpath}:{node.lineno}: {what}')
    return found


def scan(root: str) -> list[str]:
    out = []
    for path in python_files(root):
        if any(path.startswith(prefix) for prefix in EXEMPT):
            continue
        with open(os.path.join(root, path), encoding='utf-8') as f:
            out.extend(image_opens(f.read(), path))
    return out


def test_only_the_image_reader_opens_images():
    found = scan(ROOT)
    outside = [f for f in found if not f.startswith(READER + ':')]
    assert outside == [], 'read images with networks.image_io.read_image / read_image_info:\n' + '\n'.join(outside)
    # The walk does read the sources: it finds the one call that is allowed.
    assert len(found) == 1 and found[0].endswith('Image.open'), found


def test_the_walk_covers_every_caller_and_skips_what_is_not_ours():
    files = python_files(ROOT)
    for caller in ('analysis/projection.py', 'training/dataset.py', 'training/dataset_convert.py',
                   'networks/pretrained/__init__.py', 'viz/gui/widgets/projection_widget.py', READER):
        assert caller in files, caller
    assert not any(f.startswith(('.venv/', 'nvlabs/')) for f in files)


@pytest.mark.parametrize('source', [
    'import PIL.Image\nPIL.Image.open(path)\n',
    'from PIL import Image\nwith Image.open(path) as im:\n    im.load()\n',
    'def f(p):\n    import PIL.Image as I\n    return I.Image.open(p)\n',
    'from PIL.Image import open as pil_open\n',
    'import imageio.v3 as iio\nframes = iio.imread(path)\n',
    'import matplotlib.pyplot as plt\nplt.imread(path)\n',
    'from skimage.io import imread\nimread(path)\n',
    "from PIL import Image\nopener = getattr(Image, 'open')\n",
])
def test_the_walk_flags_each_way_of_opening_an_image(tmp_path, source):
    (tmp_path / 'viz').mkdir()
    (tmp_path / 'viz' / 'bad.py').write_text(source)
    (tmp_path / 'tests').mkdir()
    (tmp_path / 'tests' / 'test_ok.py').write_text(source)           # tests are exempt
    found = scan(str(tmp_path))
    assert found and all(f.startswith('viz/bad.py:') for f in found), found


def test_the_walk_leaves_other_pillow_calls_alone(tmp_path):
    (tmp_path / 'viz').mkdir()
    (tmp_path / 'viz' / 'ok.py').write_text(
        'import PIL.Image\nimg = PIL.Image.fromarray(a)\nimg.save(path)\nPIL.Image.new("RGB", (1, 1))\n'
        'with open(path, "rb") as f:\n    f.read()\n')
    assert scan(str(tmp_path)) == []
