"""Write tiny fake MNIST files in the real IDX format, read by the real loader in the tests.

Run ``python tests/fake_mnist/make_fake_mnist.py`` to regenerate the files next to this script:
40 training and 20 test images of 28x28 unsigned bytes with labels ``i % 10``. Image ``i`` is
black (0) except for a white (255) vertical bar, two pixels wide, at column ``4 + 2 * label``,
rows 4 to 23, so the tests can check pixel values by hand. The training images are written
gzip-compressed (``train-images-idx3-ubyte.gz``, as torchvision downloads them) and the other
three files plain, so both ways of reading are exercised.

IDX format: a big-endian magic number ``0x0000TTDD`` (``TT = 0x08``: unsigned bytes; ``DD``:
number of dimensions), one big-endian uint32 per dimension, then the bytes in row-major order.
"""

import gzip
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
SIZES = {"train": 40, "t10k": 20}


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialize a uint8 array in the IDX format."""
    header = bytes([0, 0, 0x08, array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def fake_split(n: int) -> tuple[np.ndarray, np.ndarray]:
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = np.zeros((n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        column = 4 + 2 * int(label)
        images[i, 4:24, column : column + 2] = 255
    return images, labels


def main() -> None:
    for prefix, n in SIZES.items():
        images, labels = fake_split(n)
        image_file = HERE / f"{prefix}-images-idx3-ubyte"
        if prefix == "train":
            # mtime=0 keeps the committed file byte-identical across regenerations.
            image_file.with_name(image_file.name + ".gz").write_bytes(
                gzip.compress(idx_bytes(images), mtime=0)
            )
        else:
            image_file.write_bytes(idx_bytes(images))
        (HERE / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))


if __name__ == "__main__":
    main()
