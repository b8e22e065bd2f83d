"""Seeded mutations of valid JSON text for the fuzz tests of the JSON readers (sessions, keyframes, cards), and a
way to run a reader on a file that would exhaust an unbounded one (a subprocess with a memory limit)."""

from __future__ import annotations

import os
import random
import re
import resource
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a hostile author puts where a value belongs.
TOKENS = ('1e400', '-1e400', '1' + '0' * 400, '-' + '9' * 5000, '9' * 5000, 'NaN', 'Infinity', '-Infinity', '1e-400',
          '-0', '0', '-1', '4294967296', '1.5', 'true', 'false', 'null', '""', '"x"', '[]', '{}', '[[]]', '{"a": 1}',
          '[' * 5000 + ']' * 5000, '{"a":' * 3000 + '1' + '}' * 3000, '"' + 'x' * 20000 + '"', '"\\ud800"',
          '"\\u0000"', '"/dev/zero"', '"../../etc/passwd"', '[0, 1e400]', '[[0, 1' + '0' * 400 + ']]')
_VALUE = re.compile(r'-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"(?:[^"\\]|\\.)*"|true|false|null')


def mutate_json(text: str, rng: random.Random) -> bytes:
    """One seeded mutation of JSON ``text``: a value replaced by a hostile token, a value or a slice repeated,
    bytes flipped, inserted or cut."""
    kind = rng.randrange(6)
    values = list(_VALUE.finditer(text))
    if kind <= 1 and values:   # the most useful: a well-formed file with one hostile value
        m = rng.choice(values)
        return (text[:m.start()] + rng.choice(TOKENS) + text[m.end():]).encode('utf-8', 'surrogatepass')
    data = bytearray(text.encode('utf-8'))
    if kind == 2 and values:   # a value repeated into a long list
        m = rng.choice(values)
        data = bytearray((text[:m.start()] + ', '.join([m.group()] * rng.randint(2, 5000)) + text[m.end():])
                         .encode('utf-8'))
    elif kind == 3:
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
    elif kind == 4:
        i = rng.randrange(len(data))
        data[i:i] = rng.choice((b'[', b'{', b']', b'"', b'\\', b',', b'\xff', b'\x00', b'1e400', b'9' * 500))
    else:
        i = rng.randrange(len(data))
        return bytes(data[:i])
    return bytes(data)


def run_limited(code: str, timeout: float = 60.0, max_data: int = 1536 << 20) -> subprocess.CompletedProcess:
    """``python -c code`` in the repository, its heap limited to ``max_data`` bytes (an unbounded read of
    /dev/zero then ends in a MemoryError instead of taking the machine's memory)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (max_data, max_data))

    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, preexec_fn=limit, capture_output=True, text=True,
                          timeout=timeout)
