"""Is the benchmark data the gallery trains on present? One clear line when it is not.

``make -C docs html`` runs this first (``python gallery_data.py`` exits 2 with the line);
``conf.py`` calls :func:`missing_message` too, so a direct ``sphinx-build`` stops the same way
instead of failing deep inside sphinx-gallery with a traceback.
"""

import os
import sys

# What the examples load, relative to the data folder (the loaders' file names).
GALLERY_FILES = ("office_caltech10_surf/office_caltech10_surf.npz",
                 "office31_effnetlite0/office31_effnetlite0.npz",
                 "mnist_usps_jda/mnist_usps_jda.npz")
_DEFAULT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                        "data"))


def data_folder():
    """``$SKDOMAINCLUST_DATA``, else ``../shared/data`` beside the checkout."""
    return os.environ.get("SKDOMAINCLUST_DATA") or _DEFAULT


def missing_message():
    """None when every file is there, else the one line that says what to do."""
    folder = data_folder()
    absent = [name for name in GALLERY_FILES if not os.path.isfile(os.path.join(folder, name))]
    if not absent:
        return None
    return (f"the gallery trains on benchmark data that {folder} lacks ({', '.join(absent)}): "
            "set SKDOMAINCLUST_DATA to the folder that holds it (see the README, "
            "'Documentation').")


if __name__ == "__main__":
    message = missing_message()
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
