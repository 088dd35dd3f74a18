"""A seeded product catalog: SKUs with a stable name, category, price and weight."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lakehouse.generate.seeding import Stream, stream_rng

CATALOG_SIZE = 1_500
# Spread of a variant's price and weight around its product's base value (lognormal sigma).
PRICE_SPREAD = 0.15
WEIGHT_SPREAD = 0.10
MIN_PRICE = 0.99
WEIGHT_DECIMALS = 3
VARIANTS = ("Red", "Blue", "Black", "White", "Green", "Large", "Small", "Classic", "Deluxe", "Mini")

# category -> (share of the catalog, ((product name, base price USD, base weight kg), ...))
PRODUCTS_BY_CATEGORY: dict[str, tuple[float, tuple[tuple[str, float, float], ...]]] = {
    "toys": (0.12, (
        ("Wooden train", 19.99, 0.4), ("Plush bear", 14.99, 0.3),
        ("Building blocks set", 39.99, 1.2), ("Remote control car", 49.99, 1.0),
        ("Board game", 29.99, 1.1), ("Jigsaw puzzle", 17.99, 0.7),
        ("Doll house", 89.99, 6.5), ("Kite", 12.99, 0.3),
    )),
    "electronics": (0.14, (
        ("Wireless earbuds", 79.99, 0.1), ("Bluetooth speaker", 59.99, 0.6),
        ("USB-C charger", 24.99, 0.15), ("Smartwatch", 199.99, 0.1),
        ("Mechanical keyboard", 109.99, 1.0), ("27-inch monitor", 249.99, 5.8),
        ("Action camera", 299.99, 0.3), ("Laptop", 999.99, 2.0),
    )),
    "books": (0.12, (
        ("Paperback novel", 12.99, 0.3), ("Hardcover cookbook", 29.99, 1.1),
        ("Picture book", 9.99, 0.4), ("Travel guide", 19.99, 0.5), ("Graphic novel", 17.99, 0.6),
        ("Science textbook", 89.99, 1.8),
    )),
    "clothing": (0.14, (
        ("T-shirt", 14.99, 0.2), ("Jeans", 49.99, 0.6), ("Hoodie", 39.99, 0.7),
        ("Running shoes", 89.99, 0.9), ("Winter jacket", 129.99, 1.5), ("Socks 5-pack", 12.99, 0.3),
    )),
    "home": (0.10, (
        ("Throw pillow", 24.99, 0.5), ("Table lamp", 44.99, 1.8), ("Bath towel set", 34.99, 1.6),
        ("Wall clock", 27.99, 0.9), ("Area rug", 119.99, 7.5), ("Scented candle", 16.99, 0.5),
    )),
    "kitchen": (0.10, (
        ("Chef's knife", 59.99, 0.3), ("Cast iron skillet", 39.99, 3.4), ("Blender", 79.99, 3.9),
        ("Coffee maker", 99.99, 4.5), ("Cutting board", 22.99, 1.2), ("Dinnerware set", 69.99, 8.0),
    )),
    "sports": (0.10, (
        ("Yoga mat", 29.99, 1.3), ("Dumbbell pair", 39.99, 9.1), ("Tennis racket", 89.99, 0.3),
        ("Camping tent", 149.99, 4.2), ("Water bottle", 19.99, 0.4), ("Bicycle helmet", 54.99, 0.5),
    )),
    "beauty": (0.08, (
        ("Face moisturizer", 24.99, 0.2), ("Shampoo", 12.99, 0.5), ("Hair dryer", 49.99, 0.8),
        ("Perfume", 79.99, 0.3), ("Makeup brush set", 19.99, 0.3),
    )),
    "grocery": (0.10, (
        ("Ground coffee 2 lb", 17.99, 0.95), ("Olive oil 1 L", 14.99, 1.0),
        ("Protein bars 12-pack", 24.99, 0.8), ("Green tea 100 bags", 9.99, 0.25),
        ("Pasta 6-pack", 11.99, 2.7),
    )),
}  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """SKUs grouped by category: SKUs of category ``c`` are ``category_offsets[c]`` onwards."""

    categories: tuple[str, ...]
    category_shares: np.ndarray
    category_offsets: np.ndarray
    category_sizes: np.ndarray
    # One prebuilt cart item (quantity 1) per SKU; carts copy it with their own quantity.
    items: tuple[dict, ...]


def _round_price(value: float) -> float:
    """Retail-style price ending in .99."""
    return max(MIN_PRICE, round(float(np.floor(value)) + 0.99, 2))


def build_catalog(seed: int) -> Catalog:
    """Build the product catalog; the same seed always gives the same SKUs."""
    rng = stream_rng(seed, Stream.CATALOG)
    categories = tuple(PRODUCTS_BY_CATEGORY)
    shares = np.array([PRODUCTS_BY_CATEGORY[c][0] for c in categories])
    shares = shares / shares.sum()
    sizes = np.floor(shares * CATALOG_SIZE).astype(np.int64)
    sizes[0] += CATALOG_SIZE - sizes.sum()
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    items: list[dict] = []
    for category, size in zip(categories, sizes, strict=True):
        products = PRODUCTS_BY_CATEGORY[category][1]
        product_idx = rng.integers(0, len(products), size)
        variant_idx = rng.integers(0, len(VARIANTS), size)
        price_factor = rng.lognormal(0.0, PRICE_SPREAD, size)
        weight_factor = rng.lognormal(0.0, WEIGHT_SPREAD, size)
        for p, v, pf, wf in zip(product_idx, variant_idx, price_factor, weight_factor, strict=True):
            name, base_price, base_weight = products[p]
            items.append(
                {
                    "sku": f"SKU-{len(items) + 1:06d}",
                    "productName": f"{name} ({VARIANTS[v]})",
                    "category": category,
                    "quantity": 1,
                    "unitPrice": _round_price(base_price * pf),
                    "weightKg": round(base_weight * float(wf), WEIGHT_DECIMALS),
                }
            )
    return Catalog(categories, shares, offsets, sizes, tuple(items))
