"""Draw the integration's brand images into custom_components/openai_realtime/brand/.

    .venv/bin/python scripts/brand_images.py

The mark is this project's own: a speech bubble with a house in it, and a sound
wave in the house. Flat colours, no third-party logo. Home Assistant (2026.3+) and
HACS read `brand/` inside the integration: `icon.png` 256x256 and `icon@2x.png`
512x512 (square), `logo.png` with a shortest side of 128 to 256 px and
`logo@2x.png` of 256 to 512 px, and `dark_` variants of each for dark themes.
`scripts/check_ha_rules.py` checks the sizes.

Every shape is drawn four times larger than needed and scaled down, which smooths
the edges. Needs Pillow (installed with Home Assistant in every venv).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / (
    "custom_components/openai_realtime/brand"
)
SUPERSAMPLE = 4
WORDMARK = "Realtime"
Colour = tuple[int, int, int, int]


@dataclass(frozen=True)
class Palette:
    """The colours of one variant (light themes, or dark ones)."""

    bubble: Colour
    house: Colour
    wave: Colour
    text: Colour


LIGHT = Palette(
    bubble=(37, 99, 235, 255),  # blue
    house=(255, 255, 255, 255),
    wave=(37, 99, 235, 255),
    text=(31, 41, 55, 255),  # slate, on a light page
)
DARK = Palette(
    bubble=(96, 165, 250, 255),  # a lighter blue that stands out on dark grey
    house=(15, 23, 42, 255),
    wave=(96, 165, 250, 255),
    text=(241, 245, 249, 255),
)


def mark(size: int, palette: Palette) -> Image.Image:
    """The square mark, `size` pixels wide, on a transparent background."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)

    def at(*points: float) -> list[float]:
        """Coordinates on a 512-unit grid, scaled to the drawing."""
        return [p * big / 512 for p in points]

    # The bubble: a rounded square with a tail at the lower left.
    draw.rounded_rectangle(at(16, 16, 496, 408), radius=big * 0.19, fill=palette.bubble)
    draw.polygon(at(104, 380, 84, 496, 228, 396), fill=palette.bubble)
    # The house: a roof over a body.
    draw.polygon(at(256, 78, 96, 212, 416, 212), fill=palette.house)
    draw.rectangle(at(132, 200, 380, 356), fill=palette.house)
    # The sound wave in the house: five bars, tallest in the middle.
    for centre, height in zip(
        (184, 220, 256, 292, 328), (44, 88, 120, 88, 44), strict=True
    ):
        draw.rounded_rectangle(
            at(centre - 11, 280 - height / 2, centre + 11, 280 + height / 2),
            radius=11 * big / 512,
            fill=palette.wave,
        )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, palette: Palette) -> Image.Image:
    """The mark and the wordmark side by side, `height` pixels high."""
    big = height * SUPERSAMPLE
    font = ImageFont.load_default(size=round(big * 0.5))
    left, top, right, bottom = font.getbbox(WORDMARK)
    gap = round(big * 0.16)
    width = big + gap + round(right - left)
    image = Image.new("RGBA", (width, big), (0, 0, 0, 0))
    image.alpha_composite(mark(big, palette))
    draw = ImageDraw.Draw(image)
    # Centred on the bubble (without its tail), which ends at 408 of 512 units.
    text_y = (big * 408 / 512 - (bottom - top)) / 2 - top
    draw.text((big + gap - left, text_y), WORDMARK, font=font, fill=palette.text)
    scaled = image.resize(
        (round(width / SUPERSAMPLE), height), Image.Resampling.LANCZOS
    )
    # Trimmed left and right only: the height is what the size rule measures.
    box = scaled.getbbox()
    if box is None:
        return scaled
    return scaled.crop((box[0], 0, box[2], height))


def images() -> dict[str, Image.Image]:
    """Every brand image, by file name."""
    drawn: dict[str, Image.Image] = {}
    for prefix, palette in (("", LIGHT), ("dark_", DARK)):
        drawn[f"{prefix}icon.png"] = mark(256, palette)
        drawn[f"{prefix}icon@2x.png"] = mark(512, palette)
        drawn[f"{prefix}logo.png"] = logo(128, palette)
        drawn[f"{prefix}logo@2x.png"] = logo(256, palette)
    return drawn


def main() -> None:
    """Write the images (optimised PNGs) and say what was written."""
    BRAND.mkdir(exist_ok=True)
    for name, image in images().items():
        path = BRAND / name
        image.save(path, format="PNG", optimize=True)
        print(f"{path.relative_to(BRAND.parent.parent.parent)}: {image.size}")


if __name__ == "__main__":
    main()
