from __future__ import annotations

from persona.campaigns.spec import CampaignSpec
from persona.pipeline.stages.campaigns import demo_spec


def test_playbook_gives_each_segment_family_its_strategy() -> None:
    spec = CampaignSpec.model_validate(demo_spec(["champions", "potential_loyalist", "prospects", "at_risk", "lost", "promising"]))
    strategy = {g.name: g.strategy for g in spec.groups}
    assert strategy == {
        "champions": "coupon",  # frequent buyers
        "prospects": "recommendations",  # new customers
        "at_risk": "winback",  # churn risks
        "lost": "winback",
        "rare_buyers": "new_arrivals",  # everyone else: potential loyalists, promising…
    }
    assert spec.groups[-1].segments == [] and spec.experiment is not None and spec.channels[0].type == "outbox"
