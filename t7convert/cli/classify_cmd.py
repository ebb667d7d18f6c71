"""``t7convert classify MODEL IMAGE...``: top-5 classes, printed as fb.resnet.torch's classify.lua prints them."""
from __future__ import annotations

import click

from t7convert.cli import cli


@cli.command("classify", short_help="Most probable ImageNet classes of each image.")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.argument("images", metavar="IMAGE|FOLDER...", nargs=-1, required=True,
                type=click.Path(exists=True))
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Classes per image.")
@click.option("--device", help="cpu, cuda, cuda:N (default: cuda when available).")
@click.option("--interpolation", type=click.Choice(["torch7", "pil"]), default="torch7", show_default=True,
              help="Resize with Torch7's image.scale bicubic, or PIL's for comparison.")
def classify_command(model_path: str, images: tuple[str, ...], top: int, device: str | None,
                     interpolation: str) -> None:
    """Most probable classes of each IMAGE (softmax of MODEL's output), best first. A FOLDER stands for
    its images (.jpg, .jpeg, .png, .ppm, .bmp; sorted, not recursive)."""
    import t7convert
    from t7convert.common.errors import T7ConvertError, printable
    from t7convert.imagenet.classify import format_like_classify_lua, images_in, iter_classify

    images = images_in(images)

    broken: list[str] = []

    def unreadable(image: str, error: T7ConvertError) -> None:
        broken.append(image)
        click.echo(f"t7convert: error: {printable(error)}", err=True)

    model = t7convert.load(model_path)
    for result in iter_classify(model, images, top=top, device=device, interpolation=interpolation,
                                on_unreadable=unreadable):
        click.echo(format_like_classify_lua([result]), nl=False)
    if broken:
        raise T7ConvertError(f"{len(broken)} of {len(images)} images could not be read: {', '.join(broken)[:300]}")
