"""Reference data of the synthetic world: real ports, source regions, HS codes and corridors.

Ports carry their real UN/LOCODE, country and approximate coordinates. Corridors follow the
trafficking routes described in public UNODC/EMCDDA reporting (Andean cocaine through Pacific,
Caribbean and Brazilian ports; heroin along the Balkan and southern routes; methamphetamine and
precursor chemicals from East and South Asia and Mexico), and ordinary trade runs on the very
same paths. Values are approximate: what matters is that they are plausible and consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.financial import FLAG_TYPES as _FEATURE_FLAG_TYPES

# locode, name, country, lat, lon
PORTS: tuple[tuple[str, str, str, float, float], ...] = (
    # Andean region, Pacific, Caribbean and Brazil
    ("ECGYE", "Guayaquil", "EC", -2.28, -79.91),
    ("ECPSJ", "Posorja", "EC", -2.71, -80.25),
    ("COBUN", "Buenaventura", "CO", 3.88, -77.07),
    ("COCTG", "Cartagena", "CO", 10.39, -75.53),
    ("COSMR", "Santa Marta", "CO", 11.25, -74.22),
    ("COBOG", "Bogota El Dorado", "CO", 4.70, -74.15),
    ("PECLL", "Callao", "PE", -12.05, -77.15),
    ("CLSAI", "San Antonio", "CL", -33.59, -71.62),
    ("BRSSZ", "Santos", "BR", -23.96, -46.30),
    ("BRPNG", "Paranagua", "BR", -25.50, -48.51),
    ("PAMIT", "Manzanillo (Colon)", "PA", 9.36, -79.88),
    ("PAONX", "Colon", "PA", 9.35, -79.90),
    ("PABLB", "Balboa", "PA", 8.95, -79.57),
    ("JMKIN", "Kingston", "JM", 17.97, -76.79),
    ("DOCAU", "Caucedo", "DO", 18.42, -69.63),
    ("CRLIO", "Puerto Limon", "CR", 10.00, -83.03),
    ("MXZLO", "Manzanillo", "MX", 19.05, -104.31),
    ("MXLZC", "Lazaro Cardenas", "MX", 17.94, -102.18),
    # Europe
    ("NLRTM", "Rotterdam", "NL", 51.95, 4.14),
    ("BEANR", "Antwerp", "BE", 51.26, 4.40),
    ("DEHAM", "Hamburg", "DE", 53.54, 9.97),
    ("ESALG", "Algeciras", "ES", 36.13, -5.44),
    ("ESVLC", "Valencia", "ES", 39.45, -0.32),
    ("FRLEH", "Le Havre", "FR", 49.48, 0.11),
    ("GBFXT", "Felixstowe", "GB", 51.96, 1.31),
    ("ITGOA", "Genoa", "IT", 44.40, 8.92),
    ("ITGIT", "Gioia Tauro", "IT", 38.44, 15.90),
    ("PTSIE", "Sines", "PT", 37.95, -8.87),
    ("GRPIR", "Piraeus", "GR", 37.94, 23.63),
    ("SIKOP", "Koper", "SI", 45.55, 13.73),
    ("NLAMS", "Amsterdam Schiphol", "NL", 52.31, 4.76),
    ("ATVIE", "Vienna", "AT", 48.21, 16.37),
    # Balkan route (road)
    ("TRIST", "Istanbul", "TR", 41.01, 28.98),
    ("BGSOF", "Sofia", "BG", 42.70, 23.32),
    ("RSBEG", "Belgrade", "RS", 44.79, 20.45),
    ("HUBUD", "Budapest", "HU", 47.50, 19.04),
    # North America
    ("USMIA", "Miami", "US", 25.77, -80.17),
    ("USNYC", "New York", "US", 40.68, -74.04),
    ("USLAX", "Los Angeles", "US", 33.73, -118.26),
    ("USHOU", "Houston", "US", 29.73, -95.27),
    ("CAVAN", "Vancouver", "CA", 49.29, -123.11),
    # Africa, Middle East, hubs
    ("MAPTM", "Tanger Med", "MA", 35.89, -5.50),
    ("AEJEA", "Jebel Ali", "AE", 25.01, 55.06),
    ("TRMER", "Mersin", "TR", 36.80, 34.63),
    ("IRBND", "Bandar Abbas", "IR", 27.18, 56.27),
    ("PKKHI", "Karachi", "PK", 24.85, 66.99),
    ("KEMBA", "Mombasa", "KE", -4.04, 39.67),
    ("TZDAR", "Dar es Salaam", "TZ", -6.82, 39.29),
    ("ZADUR", "Durban", "ZA", -29.87, 31.03),
    ("TGLFW", "Lome", "TG", 6.13, 1.28),
    # East and South Asia
    ("CNSHA", "Shanghai", "CN", 31.23, 121.47),
    ("CNNGB", "Ningbo", "CN", 29.87, 121.55),
    ("CNYTN", "Yantian", "CN", 22.57, 114.27),
    ("CNCAN", "Guangzhou Baiyun", "CN", 23.39, 113.30),
    ("HKHKG", "Hong Kong", "HK", 22.30, 114.17),
    ("INNSA", "Nhava Sheva", "IN", 18.95, 72.95),
    ("INMAA", "Chennai", "IN", 13.08, 80.29),
    ("SGSIN", "Singapore", "SG", 1.26, 103.84),
    ("MYPKG", "Port Klang", "MY", 3.00, 101.39),
    ("THLCH", "Laem Chabang", "TH", 13.08, 100.88),
    ("VNSGN", "Ho Chi Minh City", "VN", 10.77, 106.70),
    ("KRPUS", "Busan", "KR", 35.10, 129.04),
)

# Ports where the administration lodges declarations; each has one customs office code.
ENTRY_PORTS: tuple[str, ...] = (
    "NLRTM",
    "BEANR",
    "DEHAM",
    "ESALG",
    "ESVLC",
    "FRLEH",
    "GBFXT",
    "ITGOA",
    "ITGIT",
    "PTSIE",
    "GRPIR",
    "SIKOP",
    "NLAMS",
    "ATVIE",
    "USMIA",
    "USNYC",
    "USLAX",
    "USHOU",
    "CAVAN",
)

# Hubs used for unusual (unplanned) transshipments.
HUB_PORTS: tuple[str, ...] = (
    "PAMIT",
    "PABLB",
    "JMKIN",
    "DOCAU",
    "MAPTM",
    "AEJEA",
    "SGSIN",
    "TGLFW",
    "GRPIR",
    "TRMER",
)


@dataclass(frozen=True)
class Product:
    """An HS code with its description variants, unit and plausible value/weight ranges."""

    hs_code: str
    descriptions: tuple[str, ...]
    quantity_unit: str  # kg, u (pieces), l
    kg_per_unit: float  # net kg per quantity unit (1 for kg)
    usd_per_kg: tuple[float, float]  # plausible unit value range
    shipment_kg: tuple[float, float]  # typical gross weight of one declaration
    duty_rate: float
    cover_for: tuple[str, ...] = ()  # drugs typically hidden in (or diverted as) this load


PRODUCTS: tuple[Product, ...] = (
    Product(
        "08039010",
        ("fresh bananas", "bananas cavendish fresh", "fresh bananas 18.14kg boxes"),
        "kg",
        1.0,
        (0.65, 1.0),
        (17000, 22000),
        0.08,
        ("cocaine",),
    ),
    Product(
        "09011100",
        ("green coffee beans", "coffee not roasted", "arabica green coffee in jute bags"),
        "kg",
        1.0,
        (3.0, 6.0),
        (18000, 21000),
        0.0,
        ("cocaine",),
    ),
    Product(
        "03038990",
        ("frozen fish", "frozen whole fish", "frozen mackerel"),
        "kg",
        1.0,
        (1.5, 4.0),
        (20000, 26000),
        0.12,
        ("cocaine",),
    ),
    Product(
        "03048990",
        ("frozen fish fillets", "frozen fillets", "frozen hake fillets"),
        "kg",
        1.0,
        (4.0, 9.0),
        (18000, 24000),
        0.10,
        ("cocaine",),
    ),
    Product(
        "08119095",
        ("frozen fruit", "frozen fruit pulp", "frozen mango chunks"),
        "kg",
        1.0,
        (1.5, 3.2),
        (18000, 24000),
        0.14,
        ("cocaine", "methamphetamine"),
    ),
    Product(
        "06031100",
        ("fresh cut roses", "cut flowers roses", "fresh flowers"),
        "kg",
        1.0,
        (5.0, 10.0),
        (800, 4000),
        0.08,
        ("cocaine",),
    ),
    Product(
        "84834090",
        ("gears and gearing", "machinery parts gearboxes", "transmission parts"),
        "u",
        35.0,
        (9.0, 30.0),
        (4000, 16000),
        0.03,
        ("cocaine", "heroin", "methamphetamine"),
    ),
    Product(
        "84879090",
        ("machinery parts", "spare parts for machines", "parts n.e.s."),
        "u",
        12.0,
        (8.0, 22.0),
        (2000, 12000),
        0.02,
        ("cocaine", "heroin", "methamphetamine"),
    ),
    Product(
        "08051020",
        ("fresh oranges", "citrus fruit oranges", "navel oranges"),
        "kg",
        1.0,
        (0.7, 1.2),
        (20000, 24000),
        0.16,
        ("cannabis",),
    ),
    Product(
        "52085900",
        ("cotton fabrics printed", "woven cotton fabric", "textile rolls"),
        "kg",
        1.0,
        (5.0, 11.0),
        (6000, 18000),
        0.08,
        ("heroin",),
    ),
    Product(
        "25232900",
        ("portland cement", "cement grey", "cement in bags"),
        "kg",
        1.0,
        (0.06, 0.12),
        (22000, 27000),
        0.0,
        ("heroin",),
    ),
    Product(
        "29143100",
        ("phenylacetone derivatives", "organic ketones", "ketone compounds"),
        "kg",
        1.0,
        (3.0, 12.0),
        (500, 9000),
        0.055,
        ("precursor", "methamphetamine"),
    ),
    Product(
        "29242990",
        ("cyclic amides", "organic amides for industrial use", "amide compounds"),
        "kg",
        1.0,
        (12.0, 55.0),
        (100, 3000),
        0.065,
        ("precursor", "fentanyl"),
    ),
    Product(
        "29329990",
        ("heterocyclic compounds oxygen", "glycidic acid derivatives", "fragrance intermediates"),
        "kg",
        1.0,
        (6.0, 30.0),
        (200, 6000),
        0.065,
        ("precursor",),
    ),
    Product(
        "29333999",
        ("piperidine derivatives", "pharmaceutical intermediates", "heterocyclic nitrogen comp"),
        "kg",
        1.0,
        (25.0, 110.0),
        (20, 1500),
        0.065,
        ("fentanyl", "precursor"),
    ),
    Product(
        "29394100",
        ("ephedrine salts", "alkaloids", "pharmaceutical raw material"),
        "kg",
        1.0,
        (60.0, 300.0),
        (10, 800),
        0.0,
        ("precursor", "methamphetamine"),
    ),
    Product(
        "29153900",
        ("esters of acetic acid", "acetate esters", "solvent esters"),
        "kg",
        1.0,
        (2.0, 9.0),
        (50, 6000),
        0.055,
        ("precursor", "methamphetamine"),
    ),
    Product(
        "29221990",
        ("amino-alcohols", "amino alcohol derivatives", "ethanolamine compounds"),
        "kg",
        1.0,
        (8.0, 40.0),
        (10, 2500),
        0.065,
        ("precursor", "fentanyl"),
    ),
    # ordinary trade
    Product(
        "61091000",
        ("cotton t-shirts", "knitted t-shirts", "garments"),
        "u",
        0.2,
        (10.0, 25.0),
        (2000, 9000),
        0.12,
    ),
    Product(
        "84713000",
        ("laptop computers", "portable computers", "notebooks"),
        "u",
        2.5,
        (60.0, 160.0),
        (1500, 8000),
        0.0,
    ),
    Product(
        "85171300",
        ("smartphones", "mobile telephones", "cellular phones"),
        "u",
        0.35,
        (150.0, 400.0),
        (300, 3000),
        0.0,
    ),
    Product(
        "94036010",
        ("wooden furniture", "dining tables", "furniture"),
        "u",
        25.0,
        (2.5, 6.0),
        (5000, 15000),
        0.0,
    ),
    Product(
        "87089997",
        ("vehicle parts", "auto parts", "parts for motor vehicles"),
        "u",
        4.0,
        (6.0, 16.0),
        (4000, 18000),
        0.03,
    ),
    Product(
        "40111000",
        ("car tyres", "new pneumatic tyres", "tyres"),
        "u",
        9.0,
        (2.5, 4.5),
        (8000, 16000),
        0.045,
    ),
    Product(
        "39012090",
        ("polyethylene granules", "HDPE resin", "plastics in primary forms"),
        "kg",
        1.0,
        (1.0, 1.6),
        (20000, 25000),
        0.065,
    ),
    Product(
        "72085120",
        ("hot-rolled steel plates", "steel sheets", "flat-rolled iron"),
        "kg",
        1.0,
        (0.6, 0.95),
        (20000, 27000),
        0.0,
    ),
    Product(
        "10063098",
        ("milled rice", "white rice", "long grain rice"),
        "kg",
        1.0,
        (0.5, 0.9),
        (20000, 25000),
        0.1,
    ),
    Product(
        "30049000",
        ("medicaments in doses", "pharmaceutical products", "tablets"),
        "kg",
        1.0,
        (40.0, 220.0),
        (200, 4000),
        0.0,
    ),
    Product(
        "22030001",
        ("beer", "lager beer in bottles", "malt beer"),
        "l",
        1.05,
        (0.9, 1.8),
        (18000, 22000),
        0.0,
    ),
    Product(
        "44072999",
        ("tropical sawn wood", "sawn timber", "hardwood lumber"),
        "kg",
        1.0,
        (0.8, 1.6),
        (20000, 26000),
        0.0,
    ),
)

# Vague wording a declarant may use instead of the product's description.
VAGUE_DESCRIPTIONS: tuple[str, ...] = (
    "general cargo",
    "samples",
    "goods as per invoice",
    "spare parts",
    "food products",
    "chemicals",
)


# How rip-on/rip-off crews hide a load in an unaware importer's container: at a transshipment
# hub, which leaves a trace in the voyage (unplanned hub, AIS gaps, dwell), or inside the goods
# themselves at the source (timber, vehicle parts, steel, cotton), which leaves a trace
# in the declared value and weight.
RIP_METHODS: tuple[str, ...] = ("transshipment", "in_goods")


@dataclass(frozen=True)
class Lane:
    """A trade lane: origin country and port path (loading, transshipments, entry).

    ``drug`` is what a seizure on this lane usually is; ``risk`` the latent corridor risk in
    logit units (0 for lanes that only carry ordinary trade); ``products`` the HS codes moved;
    ``method`` how rip-on/rip-off crews on the lane hide a load (``RIP_METHODS``).
    """

    origin: str
    path: tuple[str, ...]
    mode: str
    products: tuple[str, ...]
    drug: str
    risk: float
    popularity: float
    method: str = "transshipment"

    @property
    def corridor_id(self) -> str:
        """Stable human-readable id, e.g. ``CO:COBUN>PAMIT>NLRTM``."""
        return f"{self.origin}:{'>'.join(self.path)}"


_BANANA = "08039010"
_COFFEE = "09011100"
_FISH = "03038990"
_FILLET = "03048990"
_FRUIT = "08119095"
_FLOWERS = "06031100"
_GEARS = "84834090"
_PARTS = "84879090"
_CITRUS = "08051020"
_COTTON = "52085900"
_CEMENT = "25232900"
_KETONE = "29143100"
_AMIDE = "29242990"
_HETERO_O = "29329990"
_HETERO_N = "29333999"
_EPHEDRINE = "29394100"
_ESTER = "29153900"
_AMINO = "29221990"
_TSHIRT = "61091000"
_LAPTOP = "84713000"
_PHONE = "85171300"
_FURNITURE = "94036010"
_AUTO = "87089997"
_TYRES = "40111000"
_PE = "39012090"
_STEEL = "72085120"
_RICE = "10063098"
_PHARMA = "30049000"
_BEER = "22030001"
_WOOD = "44072999"

# Trafficking corridors (risk > 0) and ordinary lanes. Ordinary trade also runs on every
# trafficking corridor: the risk belongs to the path, not to who ships on it.
LANES: tuple[Lane, ...] = (
    # --- Andean cocaine -------------------------------------------------------------------
    Lane("EC", ("ECGYE", "NLRTM"), "sea", (_BANANA, _FISH, _FRUIT), "cocaine", 1.6, 5.0),
    Lane("EC", ("ECGYE", "PAMIT", "BEANR"), "sea", (_BANANA, _FILLET), "cocaine", 1.5, 4.0),
    Lane("EC", ("ECPSJ", "DOCAU", "DEHAM"), "sea", (_BANANA, _FISH), "cocaine", 0.3, 1.5),
    Lane("CO", ("COBUN", "PAMIT", "NLRTM"), "sea", (_COFFEE, _FRUIT, _PARTS), "cocaine", 1.5, 3.0),
    Lane("CO", ("COBUN", "PABLB", "ITGIT"), "sea", (_COFFEE, _FRUIT), "cocaine", 0.3, 1.2),
    Lane("CO", ("COCTG", "JMKIN", "BEANR"), "sea", (_COFFEE, _GEARS), "cocaine", 1.3, 2.5),
    Lane("CO", ("COSMR", "ESALG"), "sea", (_BANANA, _FRUIT), "cocaine", 1.0, 2.0),
    Lane("CO", ("COBOG", "USMIA"), "air", (_FLOWERS,), "cocaine", 1.0, 2.0),
    Lane("CO", ("COCTG", "USMIA"), "sea", (_COFFEE, _FRUIT, _WOOD), "cocaine", 0.8, 2.5),
    Lane("PE", ("PECLL", "PAONX", "USNYC"), "sea", (_FILLET, _FRUIT, _GEARS), "cocaine", 1.0, 2.0),
    Lane("PE", ("PECLL", "PAMIT", "ESVLC"), "sea", (_FRUIT, _FISH), "cocaine", 1.1, 2.0),
    Lane("BO", ("BRSSZ", "PTSIE"), "sea", (_PARTS, _COFFEE), "cocaine", 1.2, 0.8),
    Lane(
        "BR",
        ("BRSSZ", "MAPTM", "ITGIT"),
        "sea",
        (_COFFEE, _FRUIT, _WOOD),
        "cocaine",
        1.2,
        2.5,
        "in_goods",
    ),
    Lane("BR", ("BRPNG", "FRLEH"), "sea", (_FRUIT, _AUTO, _WOOD), "cocaine", 0.8, 2.0, "in_goods"),
    Lane("CR", ("CRLIO", "GBFXT"), "sea", (_BANANA, _FRUIT), "cocaine", 0.8, 2.0),
    # --- heroin: southern and Balkan routes ---------------------------------------------
    Lane("PK", ("PKKHI", "AEJEA", "BEANR"), "sea", (_COTTON, _RICE), "heroin", 1.3, 2.0),
    Lane("PK", ("PKKHI", "KEMBA", "GBFXT"), "sea", (_COTTON, _CEMENT), "heroin", 1.4, 1.0),
    Lane("IR", ("IRBND", "TRMER", "GRPIR"), "sea", (_CEMENT, _PARTS), "heroin", 1.2, 1.0),
    Lane("AF", ("TRIST", "BGSOF", "RSBEG", "ATVIE"), "road", (_COTTON, _PARTS), "heroin", 1.4, 1.0),
    Lane("TR", ("TRIST", "BGSOF", "HUBUD", "ATVIE"), "road", (_TSHIRT, _AUTO), "heroin", 0.4, 3.0),
    Lane("TR", ("TRMER", "SIKOP"), "sea", (_CITRUS, _TSHIRT, _STEEL), "heroin", 0.3, 2.5),
    # --- methamphetamine and precursors -------------------------------------------------
    Lane("CN", ("CNSHA", "NLRTM"), "sea", (_KETONE, _HETERO_O, _PE), "precursor", 1.3, 4.0),
    Lane(
        "CN",
        ("CNNGB", "SGSIN", "BEANR"),
        "sea",
        (_HETERO_O, _KETONE, _TYRES),
        "precursor",
        1.2,
        3.0,
    ),
    Lane(
        "IN",
        ("INNSA", "AEJEA", "NLRTM"),
        "sea",
        (_EPHEDRINE, _PHARMA, _RICE),
        "precursor",
        1.1,
        2.0,
    ),
    Lane(
        "IN", ("INMAA", "USNYC"), "sea", (_EPHEDRINE, _PHARMA, _AMIDE), "methamphetamine", 0.9, 2.0
    ),
    Lane("MX", ("MXZLO", "USLAX"), "sea", (_FRUIT, _AUTO, _BEER), "methamphetamine", 1.2, 3.0),
    Lane("MM", ("THLCH", "SGSIN", "USLAX"), "sea", (_FRUIT, _PARTS), "methamphetamine", 1.1, 1.0),
    # --- fentanyl precursors ------------------------------------------------------------
    Lane(
        "CN", ("CNYTN", "MXLZC", "USLAX"), "sea", (_HETERO_N, _AMIDE, _PARTS), "fentanyl", 1.5, 2.0
    ),
    Lane(
        "CN",
        ("CNCAN", "USNYC"),
        "post",
        (_HETERO_N, _AMIDE, _AMINO, _TSHIRT, _PHONE),
        "fentanyl",
        1.1,
        3.0,
    ),
    # --- small parcels by post and air (e-commerce; synthetic drugs move here later) --------
    Lane(
        "CN",
        ("CNCAN", "NLAMS"),
        "post",
        (_TSHIRT, _PHONE, _ESTER, _HETERO_N),
        "precursor",
        0.5,
        4.0,
    ),
    Lane("HK", ("HKHKG", "NLAMS"), "air", (_PHONE, _LAPTOP, _AMINO), "precursor", 0.3, 3.0),
    Lane("IN", ("INNSA", "CAVAN"), "sea", (_AMIDE, _HETERO_N, _PHARMA), "fentanyl", 1.0, 1.5),
    # --- corridors that traffickers move to after the crackdown (drift) -----------------
    Lane("EC", ("ECGYE", "DOCAU", "DEHAM"), "sea", (_BANANA, _FRUIT), "cocaine", 0.2, 1.5),
    Lane("CO", ("COBUN", "PAMIT", "DEHAM"), "sea", (_COFFEE, _FRUIT, _PARTS), "cocaine", 0.2, 1.5),
    # --- ordinary trade -----------------------------------------------------------------
    Lane(
        "CN",
        ("CNSHA", "DEHAM"),
        "sea",
        (_LAPTOP, _PHONE, _TSHIRT, _FURNITURE),
        "cannabis",
        0.0,
        10.0,
    ),
    Lane("CN", ("CNNGB", "NLRTM"), "sea", (_TSHIRT, _FURNITURE, _TYRES), "cannabis", 0.0, 8.0),
    Lane("CN", ("CNYTN", "USLAX"), "sea", (_PHONE, _LAPTOP, _FURNITURE), "cannabis", 0.0, 10.0),
    Lane(
        "CN",
        ("CNSHA", "SGSIN", "ITGOA"),
        "sea",
        (_TSHIRT, _AUTO, _PE, _ESTER),
        "cannabis",
        0.0,
        4.0,
    ),
    Lane("HK", ("HKHKG", "GBFXT"), "sea", (_PHONE, _LAPTOP), "cannabis", 0.0, 4.0),
    Lane("KR", ("KRPUS", "USLAX"), "sea", (_AUTO, _PHONE, _TYRES), "cannabis", 0.0, 5.0),
    Lane("KR", ("KRPUS", "DEHAM"), "sea", (_AUTO, _STEEL), "cannabis", 0.0, 3.0),
    Lane(
        "VN", ("VNSGN", "SGSIN", "NLRTM"), "sea", (_FURNITURE, _TSHIRT, _RICE), "cannabis", 0.0, 4.0
    ),
    Lane("VN", ("VNSGN", "USHOU"), "sea", (_FURNITURE, _TSHIRT), "cannabis", 0.0, 3.0),
    Lane("IN", ("INNSA", "FRLEH"), "sea", (_TSHIRT, _RICE, _AMINO), "cannabis", 0.0, 3.0),
    Lane("MY", ("MYPKG", "ESVLC"), "sea", (_PE, _FURNITURE, _TYRES), "cannabis", 0.0, 2.5),
    Lane("TH", ("THLCH", "USNYC"), "sea", (_RICE, _AUTO, _FRUIT), "cannabis", 0.0, 2.5),
    Lane("US", ("USHOU", "BEANR"), "sea", (_PE, _PHARMA, _AUTO), "cannabis", 0.0, 5.0),
    Lane("US", ("USNYC", "GBFXT"), "sea", (_PHARMA, _LAPTOP), "cannabis", 0.0, 3.0),
    Lane("DE", ("DEHAM", "USNYC"), "sea", (_AUTO, _PHARMA, _GEARS), "cannabis", 0.0, 5.0),
    Lane("NL", ("NLRTM", "CAVAN"), "sea", (_PE, _BEER), "cannabis", 0.0, 2.0),
    Lane("MA", ("MAPTM", "ESALG"), "sea", (_CITRUS, _FISH, _TSHIRT), "cannabis", 0.6, 2.5),
    Lane("ZA", ("ZADUR", "FRLEH"), "sea", (_CITRUS, _FRUIT, _STEEL), "cannabis", 0.1, 2.0),
    Lane(
        "CL",
        ("CLSAI", "PAMIT", "USHOU"),
        "sea",
        (_FRUIT, _FILLET, _WOOD),
        "cocaine",
        0.8,
        2.0,
        "in_goods",
    ),
    Lane(
        "BR", ("BRSSZ", "DEHAM"), "sea", (_COFFEE, _AUTO, _STEEL), "cocaine", 0.8, 4.0, "in_goods"
    ),
    Lane("TZ", ("TZDAR", "AEJEA", "GRPIR"), "sea", (_COTTON, _WOOD), "heroin", 0.3, 1.0),
    Lane("TG", ("TGLFW", "ESVLC"), "sea", (_WOOD, _COTTON), "cocaine", 0.8, 1.0, "in_goods"),
    Lane("MX", ("MXLZC", "USHOU"), "sea", (_AUTO, _STEEL, _BEER), "methamphetamine", 0.2, 4.0),
    Lane("IT", ("ITGOA", "USNYC"), "sea", (_PHARMA, _GEARS, _FURNITURE), "cannabis", 0.0, 3.0),
)


# Displacement: after a crackdown or a run of seizures, traffickers move lanes, ports and
# modus operandi within weeks. Each event sets new corridor risks (logit units) from its day.
@dataclass(frozen=True)
class Displacement:
    """A displacement event: what happened, and the corridors whose risk it changes."""

    event: str
    risk: tuple[tuple[str, float], ...]  # corridor id -> risk from the event on


DISPLACEMENTS: tuple[Displacement, ...] = (
    Displacement(
        "crackdown at Rotterdam: Andean cocaine moves to Hamburg via the Caribbean",
        (
            ("EC:ECGYE>NLRTM", 0.4),
            ("CO:COBUN>PAMIT>NLRTM", 0.4),
            ("EC:ECGYE>DOCAU>DEHAM", 1.5),
            ("CO:COBUN>PAMIT>DEHAM", 1.4),
        ),
    ),
    Displacement(
        "record seizures at Antwerp and Hamburg: cocaine moves to Brazilian, West African and"
        " Pacific routes; precursors leave sea freight for postal and air parcels",
        (
            ("EC:ECGYE>NLRTM", 0.0),
            ("CO:COBUN>PAMIT>NLRTM", 0.0),
            ("EC:ECGYE>PAMIT>BEANR", 0.0),
            ("CO:COCTG>JMKIN>BEANR", 0.0),
            ("EC:ECGYE>DOCAU>DEHAM", 0.0),
            ("CO:COBUN>PAMIT>DEHAM", 0.0),
            ("PE:PECLL>PAMIT>ESVLC", 0.0),
            ("BR:BRSSZ>DEHAM", 3.0),
            ("TG:TGLFW>ESVLC", 2.8),
            ("BR:BRPNG>FRLEH", 2.5),
            ("BR:BRSSZ>MAPTM>ITGIT", 2.5),
            ("CL:CLSAI>PAMIT>USHOU", 2.8),
            ("ZA:ZADUR>FRLEH", 1.8),
            ("CN:CNSHA>NLRTM", 0.2),
            ("CN:CNNGB>SGSIN>BEANR", 0.2),
            ("CN:CNCAN>NLAMS", 2.1),
            ("HK:HKHKG>NLAMS", 1.9),
        ),
    ),
)


def lane_risk_table() -> np.ndarray:
    """Corridor risk per lane (rows, order of ``LANES``) and period (columns: before the
    first displacement, between, after the second)."""
    ids = [lane.corridor_id for lane in LANES]
    table = np.empty((len(LANES), len(DISPLACEMENTS) + 1))
    table[:, 0] = [lane.risk for lane in LANES]
    for k, event in enumerate(DISPLACEMENTS, start=1):
        table[:, k] = table[:, k - 1]
        for corridor, risk in event.risk:
            table[ids.index(corridor), k] = risk
    return table


# Median seized quantity (kg) per drug type; seizures are log-normal around it.
SEIZED_KG_MEDIAN: dict[str, float] = {
    "cocaine": 250.0,
    "heroin": 60.0,
    "methamphetamine": 120.0,
    "precursor": 1500.0,
    "fentanyl": 8.0,
    "cannabis": 600.0,
}

# Container owner prefixes (BIC owner codes ending in U) of large carriers.
CONTAINER_OWNERS: tuple[str, ...] = (
    "MSCU",
    "MAEU",
    "CMAU",
    "HLXU",
    "COSU",
    "ONEU",
    "EGHU",
    "HDMU",
    "ZIMU",
    "YMLU",
)

FLAG_TYPES: tuple[str, ...] = tuple(t for t in _FEATURE_FLAG_TYPES if t != "other")
"""Flag types the world raises: those the financial features count, except the catch-all."""
