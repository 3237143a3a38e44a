"""The administration's current (legacy) targeting rules in the synthetic world.

They encode what officers "know": Andean cover loads, Rotterdam and Antwerp, precursor HS
codes, the heroin routes, cheap-per-kilo goods, postal parcels. They know nothing about
front companies, complicit brokers, financial flags or route anomalies, and they keep
pointing at Rotterdam after the traffickers have moved (drift).
"""

from __future__ import annotations

from riskmodel.rules import Condition, Rule, RuleSet

ANDEAN = ("CO", "EC", "PE", "BO")
COVER_PREFIXES = ("0803", "0901", "0303", "0304", "0811", "0603")


def legacy_rules() -> RuleSet:
    """The rule set that chose the world's historical inspections."""
    return RuleSet(
        (
            Rule(
                "andean_origin",
                2.0,
                (Condition("origin_country", "in", values=ANDEAN),),
                "goods originating in the Andean cocaine-producing countries",
            ),
            Rule(
                "south_american_cover_load",
                1.5,
                (
                    Condition("origin_country", "in", values=(*ANDEAN, "BR", "CR")),
                    Condition("hs_code", "prefix", values=COVER_PREFIXES),
                ),
                "perishable cover loads (bananas, coffee, frozen fish and fruit, flowers)",
            ),
            Rule(
                "north_sea_entry_from_south_america",
                1.5,
                (
                    Condition(
                        "port_of_loading",
                        "in",
                        values=("ECGYE", "ECPSJ", "COBUN", "COCTG", "COSMR", "PECLL", "PAMIT"),
                    ),
                    Condition("port_of_entry", "in", values=("NLRTM", "BEANR")),
                ),
                "South American loading port to Rotterdam or Antwerp",
            ),
            Rule(
                "meth_precursor_chemicals",
                2.5,
                (
                    Condition("hs_code", "prefix", values=("2914", "2932", "2939")),
                    Condition("origin_country", "in", values=("CN", "IN")),
                ),
                "ketones, heterocyclics and ephedrine alkaloids from China or India",
            ),
            Rule(
                "fentanyl_precursors",
                2.0,
                (
                    Condition("hs_code", "prefix", values=("2933", "2924")),
                    Condition("origin_country", "in", values=("CN",)),
                ),
                "piperidines and amides from China",
            ),
            Rule(
                "heroin_source",
                2.5,
                (Condition("origin_country", "in", values=("AF", "PK", "IR")),),
                "goods originating in the heroin source countries",
            ),
            Rule(
                "low_value_per_kg",
                1.0,
                (Condition("value_per_kg", "max", bound=0.5),),
                "declared value below 0.50 USD per kg",
            ),
            Rule(
                "postal_parcels",
                1.0,
                (Condition("transport_mode", "in", values=("post",)),),
                "postal consignments",
            ),
            Rule(
                "mexico_to_los_angeles",
                1.0,
                (
                    Condition("origin_country", "in", values=("MX",)),
                    Condition("port_of_entry", "in", values=("USLAX",)),
                ),
                "Mexican goods entering at Los Angeles",
            ),
        )
    )
