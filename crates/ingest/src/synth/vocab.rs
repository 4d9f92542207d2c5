//! Words the synthetic shop builds its catalog from: per-category nouns, adjectives, features,
//! tags and a typical price.

/// One leaf category's vocabulary.
pub(crate) struct Leaf {
    pub parent: &'static str,
    pub name: &'static str,
    /// Median price; prices are log-normal around it.
    pub median_price: f64,
    pub nouns: &'static [&'static str],
    pub adjectives: &'static [&'static str],
    pub features: &'static [&'static str],
    pub tags: &'static [&'static str],
}

const fn leaf(
    parent: &'static str,
    name: &'static str,
    median_price: f64,
    nouns: &'static [&'static str],
    adjectives: &'static [&'static str],
    features: &'static [&'static str],
    tags: &'static [&'static str],
) -> Leaf {
    Leaf { parent, name, median_price, nouns, adjectives, features, tags }
}

/// Leaf categories, four per parent; a shop with more categories reuses them with a number.
pub(crate) const LEAVES: &[Leaf] = &[
    leaf(
        "electronics",
        "phones",
        350.0,
        &["smartphone", "phone", "handset"],
        &["slim", "dual-sim", "rugged", "foldable"],
        &["an OLED display", "all-day battery", "a triple camera"],
        &["5g", "android", "unlocked"],
    ),
    leaf(
        "electronics",
        "laptops",
        900.0,
        &["laptop", "notebook", "ultrabook"],
        &["lightweight", "gaming", "convertible", "business"],
        &["a backlit keyboard", "16 GB of memory", "a fast SSD"],
        &["portable", "windows", "work"],
    ),
    leaf(
        "electronics",
        "audio",
        80.0,
        &["headphones", "speaker", "earbuds", "soundbar"],
        &["wireless", "noise-cancelling", "bass-heavy", "waterproof"],
        &["Bluetooth 5.3", "20-hour playback", "a built-in microphone"],
        &["music", "bluetooth", "travel"],
    ),
    leaf(
        "electronics",
        "cameras",
        400.0,
        &["camera", "lens", "action cam"],
        &["mirrorless", "compact", "4k", "wide-angle"],
        &["image stabilisation", "a weather-sealed body", "fast autofocus"],
        &["photography", "video", "vlog"],
    ),
    leaf(
        "home",
        "kitchen",
        40.0,
        &["kettle", "blender", "knife set", "frying pan"],
        &["stainless", "non-stick", "compact", "professional"],
        &["a dishwasher-safe finish", "an ergonomic handle", "a 1.7 l capacity"],
        &["cooking", "kitchen", "gift"],
    ),
    leaf(
        "home",
        "furniture",
        200.0,
        &["desk", "chair", "bookshelf", "sofa"],
        &["oak", "minimalist", "adjustable", "scandinavian"],
        &["solid wood legs", "easy assembly", "a stain-resistant cover"],
        &["living room", "office", "wood"],
    ),
    leaf(
        "home",
        "decor",
        35.0,
        &["lamp", "vase", "rug", "mirror"],
        &["handmade", "ceramic", "vintage", "boho"],
        &["a warm LED", "hand-painted detail", "a woven texture"],
        &["interior", "cosy", "gift"],
    ),
    leaf(
        "home",
        "bedding",
        45.0,
        &["duvet", "pillow", "sheet set"],
        &["organic", "cooling", "hypoallergenic", "linen"],
        &["400 thread count", "a breathable weave", "machine-washable fabric"],
        &["sleep", "bedroom", "cotton"],
    ),
    leaf(
        "fashion",
        "shoes",
        70.0,
        &["sneakers", "boots", "loafers", "sandals"],
        &["leather", "lightweight", "classic", "chunky"],
        &["a cushioned sole", "a waterproof upper", "recycled laces"],
        &["footwear", "casual", "streetwear"],
    ),
    leaf(
        "fashion",
        "outerwear",
        120.0,
        &["jacket", "parka", "raincoat"],
        &["insulated", "packable", "wool", "hooded"],
        &["a detachable hood", "taped seams", "a recycled lining"],
        &["winter", "outdoor", "layering"],
    ),
    leaf(
        "fashion",
        "accessories",
        40.0,
        &["watch", "wallet", "belt", "sunglasses"],
        &["minimal", "polarised", "slim", "gold-tone"],
        &["RFID protection", "a sapphire glass face", "full-grain leather"],
        &["gift", "style", "everyday"],
    ),
    leaf(
        "fashion",
        "bags",
        60.0,
        &["backpack", "tote", "duffel"],
        &["roll-top", "canvas", "water-resistant", "weekender"],
        &["a padded laptop sleeve", "hidden pockets", "a 25 l capacity"],
        &["travel", "commute", "school"],
    ),
    leaf(
        "sports",
        "running",
        60.0,
        &["running shoes", "running vest", "shorts"],
        &["breathable", "reflective", "trail", "race-day"],
        &["a carbon plate", "moisture-wicking fabric", "a hydration pocket"],
        &["marathon", "training", "cardio"],
    ),
    leaf(
        "sports",
        "cycling",
        50.0,
        &["helmet", "bike light", "jersey"],
        &["aero", "usb-rechargeable", "high-visibility", "padded"],
        &["MIPS protection", "500 lumens", "a silicone gripper"],
        &["bike", "commute", "road"],
    ),
    leaf(
        "sports",
        "fitness",
        35.0,
        &["yoga mat", "dumbbells", "kettlebell", "resistance band"],
        &["non-slip", "adjustable", "eco", "heavy-duty"],
        &["a textured grip", "a carry strap", "five resistance levels"],
        &["home gym", "yoga", "strength"],
    ),
    leaf(
        "sports",
        "outdoor",
        90.0,
        &["tent", "sleeping bag", "lantern"],
        &["ultralight", "four-season", "compact", "solar"],
        &["a two-minute pitch", "a 0 C comfort rating", "a storm-proof fly"],
        &["camping", "hiking", "adventure"],
    ),
    leaf(
        "books",
        "fiction",
        12.0,
        &["novel", "thriller", "saga"],
        &["bestselling", "award-winning", "gripping", "debut"],
        &["a twist ending", "an unforgettable heroine", "a sweeping plot"],
        &["reading", "paperback", "story"],
    ),
    leaf(
        "books",
        "cooking",
        20.0,
        &["cookbook", "recipe book"],
        &["vegan", "italian", "quick", "family"],
        &["100 recipes", "step-by-step photos", "seasonal menus"],
        &["food", "recipes", "kitchen"],
    ),
    leaf(
        "books",
        "children",
        9.0,
        &["picture book", "storybook", "activity book"],
        &["illustrated", "bedtime", "interactive", "rhyming"],
        &["lift-the-flap pages", "colourful drawings", "a gentle lesson"],
        &["kids", "learning", "gift"],
    ),
    leaf(
        "books",
        "science",
        25.0,
        &["guide", "handbook", "atlas"],
        &["illustrated", "definitive", "pocket", "popular"],
        &["expert interviews", "hundreds of diagrams", "the latest research"],
        &["learning", "nature", "space"],
    ),
    leaf(
        "beauty",
        "skincare",
        20.0,
        &["serum", "moisturiser", "cleanser"],
        &["hydrating", "fragrance-free", "vitamin-c", "gentle"],
        &["hyaluronic acid", "SPF 30", "a dermatologist-tested formula"],
        &["skin", "vegan", "daily"],
    ),
    leaf(
        "beauty",
        "fragrance",
        60.0,
        &["eau de parfum", "cologne", "body mist"],
        &["floral", "woody", "citrus", "musky"],
        &["notes of bergamot", "a long-lasting trail", "a refillable bottle"],
        &["scent", "gift", "luxury"],
    ),
    leaf(
        "beauty",
        "makeup",
        15.0,
        &["lipstick", "mascara", "palette"],
        &["matte", "long-wear", "shimmer", "nude"],
        &["twelve shades", "a smudge-proof finish", "a vegan formula"],
        &["cosmetics", "glam", "everyday"],
    ),
    leaf(
        "beauty",
        "haircare",
        12.0,
        &["shampoo", "conditioner", "hair oil"],
        &["repairing", "sulphate-free", "volumising", "argan"],
        &["keratin", "a salon-grade formula", "a light scent"],
        &["hair", "natural", "daily"],
    ),
];

/// Syllables brand names are built from.
const BRAND_HEADS: &[&str] =
    &["Nor", "Lum", "Vel", "Ark", "Sol", "Tam", "Ori", "Kel", "Zen", "Mar", "Bri", "Cas"];
const BRAND_TAILS: &[&str] = &["vik", "ora", "ex", "iko", "ant", "wood", "ina", "on", "ly", "ster"];

/// The name of brand `b`: two syllables, with a number once the combinations run out.
pub(crate) fn brand_name(b: usize) -> String {
    let combos = BRAND_HEADS.len() * BRAND_TAILS.len();
    let base = format!(
        "{}{}",
        BRAND_HEADS[b % BRAND_HEADS.len()],
        BRAND_TAILS[(b / BRAND_HEADS.len()) % BRAND_TAILS.len()]
    );
    if b < combos { base } else { format!("{base} {}", b / combos + 1) }
}

/// Regions users are spread over (an uninformative attribute).
pub(crate) const REGIONS: &[&str] = &["north", "south", "east", "west", "central"];

/// Colours items come in (an uninformative attribute).
pub(crate) const COLOURS: &[&str] = &["black", "white", "grey", "blue", "red", "green", "beige"];

/// General tags any item may carry.
pub(crate) const GENERAL_TAGS: &[&str] = &["new", "sale", "bestseller", "eco"];
