"""`python -m cost --refresh-prices`: the price file rebuilt from the AWS Price List API.

Each price with a `price_list` filter (service code and usage type) is looked up for the region;
the first non-zero on-demand price per unit replaces it. A price the API does not return is kept
and reported, never dropped; prices without a filter (Bedrock models, S3 Vectors) stay as entered.
"""

import json
from datetime import date
from pathlib import Path

from cost.model import PRICES

PRICING_REGION = "us-east-1"  # the Price List API's endpoint


def refresh(pricing, region: str, today: date | None = None, folder: Path = PRICES) -> list[str]:
    """Update `folder/<region>.json` in place; returns one line per price: updated, unchanged or kept."""
    path = folder / f"{region}.json"
    document = json.loads(path.read_text())
    report = []
    for key, price in document["prices"].items():
        query = price.get("price_list")
        if not query:
            report.append(f"{key}: no Price List filter; kept at {price['usd']}")
            continue
        found = _on_demand_price(pricing, query["service"], query["usagetype"], region)
        if found is None:
            report.append(f"{key}: not returned by the Price List API ({query['service']} {query['usagetype']}); "
                          f"kept at {price['usd']}")
            continue
        report.append(f"{key}: {price['usd']} -> {found}" if found != price["usd"] else f"{key}: {found} unchanged")
        price.update(usd=found, source=f"AWS Price List API: {query['service']} {query['usagetype']}")
    document["as_of"] = (today or date.today()).isoformat()
    path.write_text(json.dumps(document, indent=2) + "\n")
    return report


def _on_demand_price(pricing, service: str, usagetype: str, region: str) -> float | None:
    response = pricing.get_products(ServiceCode=service, MaxResults=10, Filters=[
        {"Type": "TERM_MATCH", "Field": "usagetype", "Value": usagetype},
        {"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}])
    for text in response["PriceList"]:
        for term in json.loads(text).get("terms", {}).get("OnDemand", {}).values():
            for dimension in term["priceDimensions"].values():
                usd = float(dimension["pricePerUnit"].get("USD", 0))
                if usd > 0:
                    return usd
    return None
