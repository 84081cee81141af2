"""The demo shop's catalogue: a category tree, brands, lognormal prices and en/zh product copy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Subcategory:
    """One leaf of the category tree with its price level and (for consumables) repurchase cycle."""

    top: str
    name: str
    name_zh: str
    price_median: float
    price_sigma: float
    repurchase_days: float | None  # None: durable goods, bought once
    nouns: tuple[tuple[str, str], ...]  # (English, Chinese)
    weight: float = 1.0  # share of the catalogue

    @property
    def path(self) -> str:
        return f"{self.top} > {self.name}"


TAXONOMY: tuple[Subcategory, ...] = (
    Subcategory("Home", "Kitchen", "厨房", 35, 0.6, None, (("Chef's Knife", "厨师刀"), ("Pour-Over Kettle", "手冲壶"), ("Cast Iron Skillet", "铸铁煎锅"), ("Cutting Board", "砧板"), ("Mixing Bowl Set", "搅拌碗套装"), ("Espresso Cups", "浓缩咖啡杯")), 1.4),
    Subcategory("Home", "Bedding", "床上用品", 60, 0.5, None, (("Duvet Cover", "被套"), ("Memory Foam Pillow", "记忆棉枕头"), ("Weighted Blanket", "重力毯"), ("Linen Sheet Set", "亚麻床单套装")), 1.0),
    Subcategory("Home", "Decor", "家居装饰", 30, 0.7, None, (("Table Lamp", "台灯"), ("Wall Clock", "挂钟"), ("Ceramic Vase", "陶瓷花瓶"), ("Scented Candle", "香薰蜡烛"), ("Throw Blanket", "沙发毯")), 1.0),
    Subcategory("Electronics", "Audio", "音频设备", 80, 0.7, None, (("Wireless Earbuds", "无线耳机"), ("Bluetooth Speaker", "蓝牙音箱"), ("Over-Ear Headphones", "头戴式耳机"), ("Soundbar", "回音壁音箱")), 1.2),
    Subcategory("Electronics", "Accessories", "数码配件", 20, 0.6, None, (("USB-C Cable", "USB-C 数据线"), ("Power Bank", "充电宝"), ("Phone Case", "手机壳"), ("Wireless Charger", "无线充电器")), 1.3),
    Subcategory("Electronics", "Smart Home", "智能家居", 45, 0.6, None, (("Smart Plug", "智能插座"), ("Security Camera", "监控摄像头"), ("Smart Bulb", "智能灯泡"), ("Video Doorbell", "可视门铃")), 0.8),
    Subcategory("Beauty", "Skincare", "护肤", 25, 0.6, 45, (("Face Serum", "精华液"), ("Moisturizer", "面霜"), ("Sunscreen SPF 50", "防晒霜 SPF50"), ("Gentle Cleanser", "温和洁面乳")), 1.3),
    Subcategory("Beauty", "Hair Care", "美发护发", 14, 0.5, 40, (("Shampoo", "洗发水"), ("Conditioner", "护发素"), ("Hair Oil", "护发精油")), 0.9),
    Subcategory("Beauty", "Makeup", "彩妆", 18, 0.5, 75, (("Lipstick", "口红"), ("Mascara", "睫毛膏"), ("Cushion Foundation", "气垫粉底")), 0.9),
    Subcategory("Grocery", "Coffee & Tea", "咖啡与茶", 14, 0.45, 21, (("Whole Bean Coffee", "咖啡豆"), ("Green Tea", "绿茶"), ("Oolong Tea", "乌龙茶"), ("Cold Brew Pack", "冷萃咖啡包")), 1.1),
    Subcategory("Grocery", "Snacks", "零食", 7, 0.4, 14, (("Dark Chocolate", "黑巧克力"), ("Mixed Nuts", "混合坚果"), ("Granola", "燕麦脆"), ("Seaweed Snack", "海苔零食")), 1.0),
    Subcategory("Grocery", "Pantry", "粮油调味", 9, 0.45, 30, (("Extra Virgin Olive Oil", "特级初榨橄榄油"), ("Raw Honey", "原蜜"), ("Durum Pasta", "硬质小麦意面"), ("Soy Sauce", "酱油")), 0.9),
    Subcategory("Fashion", "Shoes", "鞋靴", 70, 0.5, None, (("Running Shoes", "跑鞋"), ("Leather Sneakers", "真皮板鞋"), ("Ankle Boots", "短靴")), 1.1),
    Subcategory("Fashion", "Outerwear", "外套", 110, 0.5, None, (("Down Jacket", "羽绒服"), ("Rain Jacket", "冲锋衣"), ("Wool Coat", "羊毛大衣")), 0.8),
    Subcategory("Fashion", "Bags", "箱包", 55, 0.6, None, (("Tote Bag", "托特包"), ("Laptop Backpack", "电脑双肩包"), ("Crossbody Bag", "斜挎包")), 0.8),
    Subcategory("Sports", "Fitness", "健身器材", 30, 0.6, None, (("Yoga Mat", "瑜伽垫"), ("Adjustable Dumbbells", "可调节哑铃"), ("Resistance Bands", "弹力带"), ("Foam Roller", "泡沫轴")), 1.0),
    Subcategory("Sports", "Outdoor", "户外", 60, 0.6, None, (("Hiking Backpack", "登山包"), ("Camping Tent", "露营帐篷"), ("Insulated Water Bottle", "保温水壶")), 0.8),
    Subcategory("Sports", "Nutrition", "运动营养", 30, 0.35, 30, (("Whey Protein", "乳清蛋白粉"), ("Energy Bars", "能量棒"), ("Electrolyte Mix", "电解质冲剂")), 0.7),
    Subcategory("Books", "Fiction", "小说", 14, 0.3, None, (("Mystery Novel", "悬疑小说"), ("Science Fiction Novel", "科幻小说"), ("Literary Novel", "文学小说")), 0.9),
    Subcategory("Books", "Cookbooks", "烹饪书", 22, 0.3, None, (("Cookbook", "食谱"), ("Baking Guide", "烘焙指南")), 0.6),
    Subcategory("Books", "Business", "商业管理", 20, 0.3, None, (("Business Handbook", "商业手册"), ("Leadership Guide", "领导力指南")), 0.6),
    Subcategory("Baby & Kids", "Diapers", "纸尿裤", 28, 0.3, 12, (("Diapers Size 3", "纸尿裤 3 号"), ("Baby Wipes", "婴儿湿巾")), 0.6),
    Subcategory("Baby & Kids", "Toys", "玩具", 25, 0.6, None, (("Building Blocks", "积木"), ("Plush Toy", "毛绒玩具"), ("Puzzle Set", "拼图套装")), 0.9),
    Subcategory("Pets", "Pet Food", "宠物食品", 40, 0.4, 30, (("Dry Dog Food", "狗粮"), ("Cat Food", "猫粮"), ("Dog Treats", "狗零食")), 0.7),
    Subcategory("Pets", "Pet Supplies", "宠物用品", 18, 0.5, None, (("Cat Litter", "猫砂"), ("Dog Leash", "狗绳"), ("Pet Bed", "宠物窝")), 0.6),
)

TOP_CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(s.top for s in TAXONOMY))

BRANDS: dict[str, tuple[str, ...]] = {
    "Home": ("Hearthwell", "Lumio", "Oakline", "Casa Nova", "Mira Home"),
    "Electronics": ("Voltera", "Sonique", "Nimbus", "Kairo", "Pixelon"),
    "Beauty": ("Velure", "Aurelle", "Petal & Pine", "Mizu", "Lumina"),
    "Grocery": ("Green Valley", "Morning Ritual", "Harvest Lane", "Tiber", "Golden Hive"),
    "Fashion": ("Northwind", "Urbanite", "Linen & Loom", "Stride", "Atelier Rue"),
    "Sports": ("Peakform", "Trailhead", "Corefit", "Velocity", "Summit Co."),
    "Books": ("Harbor Press", "Quill House", "Redwood Books"),
    "Baby & Kids": ("Little Sprout", "Cuddle Bear", "Tiny Steps"),
    "Pets": ("Happy Paws", "Whisker Co.", "Barkley"),
}

ADJECTIVES: tuple[tuple[str, str], ...] = (
    ("Classic", "经典"), ("Premium", "高端"), ("Everyday", "日常"), ("Eco", "环保"), ("Pro", "专业版"),
    ("Compact", "便携"), ("Essential", "基础款"), ("Deluxe", "豪华"), ("Organic", "有机"), ("Lite", "轻量"),
    ("Signature", "招牌"), ("Urban", "都市"),
)
VARIANTS: tuple[tuple[str, str], ...] = (
    ("", ""), ("", ""), ("Black", "黑色"), ("White", "白色"), ("Sage Green", "鼠尾草绿"), ("Navy", "藏青色"),
    ("Large", "大号"), ("Small", "小号"), ("Family Pack", "家庭装"), ("Twin Pack", "两件装"),
)

_BENEFITS_EN = (
    "built to last through daily use", "designed for people who care about the details",
    "a small upgrade that makes every day easier", "made with responsibly sourced materials",
    "loved for its clean, simple design", "tested to the same standard as professional gear",
    "a thoughtful gift that gets used every day", "light enough to take anywhere",
)
_USAGE_EN = (
    "Easy to clean and simple to store.", "Ships in plastic-free packaging.", "Backed by a two-year warranty.",
    "Comes ready to use out of the box.", "Pairs well with the rest of the {brand} range.",
    "Sized to fit most homes and bags.", "Check the size guide before ordering.",
)
_BENEFITS_ZH = (
    "经久耐用，适合日常使用", "细节用心，品质出众", "让每一天都更轻松", "采用可持续来源的材料",
    "设计简洁大方", "按专业标准测试", "送礼自用两相宜", "轻巧便携，随时随地使用",
)
_USAGE_ZH = (
    "易于清洁，方便收纳。", "环保包装发货。", "享受两年质保。", "开箱即用。", "可与{brand}全系列产品搭配。",
    "尺寸适合大多数家庭。", "下单前请查看尺码指南。",
)


def _round_price(p: np.ndarray) -> np.ndarray:
    """Shop-style prices: x.99 above 5, x.49/x.99 below."""
    whole = np.floor(p)
    return np.where(p >= 5, np.maximum(whole, 1) + 0.99, np.where(p - whole >= 0.5, whole + 0.99, whole + 0.49))


@dataclass
class Catalog:
    """Products plus the hidden parameters that drive behaviour (never written to the files)."""

    products: pd.DataFrame  # canonical product columns (+ description_zh, created_at)
    subcat: np.ndarray  # int leaf index per product (sorted ascending)
    factors: np.ndarray  # (n_products, dim) latent item factors
    popularity: np.ndarray  # Zipf-like popularity weight, sums to 1
    quality: np.ndarray  # latent quality, standard normal: drives ratings and reviews
    price: np.ndarray
    log_price_ratio: np.ndarray  # log(price / median price of its leaf)
    launch_s: np.ndarray  # launch time, epoch seconds (int64)
    in_stock: np.ndarray
    leaf_centroids: np.ndarray  # (n_leaves, dim)
    block_starts: np.ndarray  # first product index of each leaf
    nouns: list[tuple[str, str]]  # (English, Chinese) product noun, for review text


def build_catalog(n_products: int, dim: int, start_s: int, days: int, rng: np.random.Generator) -> Catalog:
    """Draw ``n_products`` products: leaves by weight, Zipf popularity, lognormal prices, en/zh copy."""
    n_leaves = len(TAXONOMY)
    weights = np.array([s.weight for s in TAXONOMY])
    # every leaf gets at least one product when there are enough products
    base = np.minimum(1, n_products // n_leaves) * np.ones(n_leaves, dtype=np.int64)
    extra = rng.multinomial(n_products - base.sum(), weights / weights.sum())
    counts = base + extra
    subcat = np.repeat(np.arange(n_leaves), counts)
    block_starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    # latent space: leaves of the same top category sit near each other
    top_idx = np.array([TOP_CATEGORIES.index(s.top) for s in TAXONOMY])
    top_centroids = rng.normal(0, 1.0, (len(TOP_CATEGORIES), dim))
    leaf_centroids = top_centroids[top_idx] + rng.normal(0, 0.6, (n_leaves, dim))
    factors = leaf_centroids[subcat] * 0.6 + rng.normal(0, 0.8, (n_products, dim))

    # popularity: Zipf over a random ranking (a few hits, a long tail)
    ranks = rng.permutation(n_products) + 1
    pop = 1.0 / ranks**0.9
    pop /= pop.sum()
    quality = rng.normal(0, 1, n_products)

    med = np.array([s.price_median for s in TAXONOMY])[subcat]
    sig = np.array([s.price_sigma for s in TAXONOMY])[subcat]
    raw = med * np.exp(sig * rng.normal(0, 1, n_products) + 0.15 * quality)
    price = np.round(_round_price(raw), 2)
    log_ratio = np.log(price / med)

    in_stock = rng.random(n_products) >= 0.06
    # 80% of the catalogue existed before the window; the rest launches during it
    launched_early = rng.random(n_products) < 0.8
    early = start_s - rng.integers(30, 900, n_products) * 86400
    late = start_s + (rng.random(n_products) * 0.85 * days * 86400).astype(np.int64)
    launch_s = np.where(launched_early, early, late).astype(np.int64)

    noun_pick = rng.random(n_products)
    adj_pick = rng.integers(0, len(ADJECTIVES), n_products)
    var_pick = rng.integers(0, len(VARIANTS), n_products)
    brand_pick = rng.random(n_products)
    ben_pick = rng.integers(0, len(_BENEFITS_EN), n_products)
    use_pick = rng.integers(0, len(_USAGE_EN), n_products)

    rows = []
    for i in range(n_products):
        leaf = TAXONOMY[subcat[i]]
        noun_en, noun_zh = leaf.nouns[int(noun_pick[i] * len(leaf.nouns))]
        brands = BRANDS[leaf.top]
        brand = brands[int(brand_pick[i] * len(brands))]
        adj_en, adj_zh = ADJECTIVES[adj_pick[i]]
        var_en, var_zh = VARIANTS[var_pick[i]]
        title = f"{brand} {adj_en} {noun_en}" + (f", {var_en}" if var_en else "")
        desc = (
            f"The {adj_en.lower()} {noun_en.lower()} from {brand}: {_BENEFITS_EN[ben_pick[i]]}. "
            + _USAGE_EN[use_pick[i]].format(brand=brand)
        )
        desc_zh = f"{brand}{adj_zh}{noun_zh}{('（' + var_zh + '）') if var_zh else ''}，{_BENEFITS_ZH[ben_pick[i]]}。" + _USAGE_ZH[
            use_pick[i]
        ].format(brand=brand)
        rows.append((title, desc, leaf.path, brand, desc_zh, (noun_en, noun_zh)))

    width = max(4, len(str(n_products)))
    products = pd.DataFrame(
        {
            "product_id": [f"P{i + 1:0{width}d}" for i in range(n_products)],
            "title": [r[0] for r in rows],
            "description": [r[1] for r in rows],
            "category": [r[2] for r in rows],
            "brand": [r[3] for r in rows],
            "price": price,
            "in_stock": in_stock,
            "description_zh": [r[4] for r in rows],
            "created_at": launch_s,
        }
    )
    return Catalog(products, subcat, factors, pop, quality, price, log_ratio, launch_s, in_stock, leaf_centroids, block_starts,
                   [r[5] for r in rows])
