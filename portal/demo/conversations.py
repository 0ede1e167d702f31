"""Demo fact tables ``conversations`` and ``messages`` (one chunk of each together)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from portal.demo.sampling import (
    _US,
    Arr,
    _group_cumsum,
    _norm,
    _nullable,
    _ts,
)
from portal.demo.vocabulary import (
    _CONV_CUSTOMER_S,
    _CONV_FIRST_S,
    _CONV_HANDLE_MIN,
    _CONV_MSG_WEIGHT,
    _CONV_REPLY_S,
    _CONV_WRAP_S,
    _LEN_IN,
    _LEN_OUT,
)

if TYPE_CHECKING:
    from portal.demo.generator import _Generator


def conversation_frames(
    g: _Generator,
    rng: np.random.Generator,
    tenant: Arr,
    day: Arr,
    msgs_per_tenant: Arr,
    conv0: int,
    msg0: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    d = g.d
    ts = g._timestamps(rng, tenant, day, g.hours)
    order = np.argsort(ts, kind="stable")
    tenant, ts = tenant[order], ts[order]
    n = ts.size
    tag = g.tag.sample(rng, tenant)
    team = g.conv_team.sample(rng, tenant)
    agent = g.agent.sample(rng, team)
    channel = g.conv_channel.sample(rng, tenant)

    # messages per conversation: exact per-tenant totals, heavier on chat/WhatsApp
    counts = np.zeros(n, dtype=np.int64)
    weight = _CONV_MSG_WEIGHT[channel] * rng.gamma(2.0, 0.5, n)
    for t in range(g.n_t):
        sel = np.flatnonzero(tenant == t)
        m = int(msgs_per_tenant[t])
        if sel.size == 0:
            continue
        floor = 1 if m >= sel.size else 0
        counts[sel] = floor + rng.multinomial(m - floor * sel.size, _norm(weight[sel]))
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    conv = np.repeat(np.arange(n), counts)
    pos = np.arange(total) - starts[conv]
    repeat = (pos >= 2) & (rng.random(total) < 0.2)  # same sender twice in a row
    outbound = (pos - _group_cumsum(repeat.astype(np.int64), counts, starts)) % 2 == 1
    ch = channel[conv]
    z = rng.standard_normal(total)
    first_reply = _CONV_FIRST_S[ch] * d.team_mult[team][conv]
    agent_gap = np.where(pos == 1, first_reply, _CONV_REPLY_S[ch]) * np.exp(0.9 * z)
    customer_gap = _CONV_CUSTOMER_S[ch] * np.exp(z)
    gap = np.where(pos == 0, 0, np.maximum(np.rint(np.where(outbound, agent_gap, customer_gap)), 1))
    gap = gap.astype(np.int64)
    offset = _group_cumsum(gap, counts, starts)
    last_off = np.zeros(n, dtype=np.int64)
    has = counts > 0
    last_off[has] = offset[starts[has] + counts[has] - 1]
    late = ts + last_off * _US > g.now_us - 60 * _US  # keep every message in the past
    ts = np.where(late, g.now_us - (last_off + rng.integers(60, 1800, n)) * _US, ts)
    contract, customer, location = g._pick_where(rng, tenant, ts)  # active when it started
    sent = ts[conv] + offset * _US
    last_us = ts + last_off * _US
    wrap_s = np.rint(_CONV_WRAP_S[channel] * np.exp(0.7 * rng.standard_normal(n))).astype(np.int64)
    ended_us = last_us + wrap_s * _US
    ended = ended_us <= g.now_us
    handle = (ended_us - ts) / (60.0 * _US)
    answered = counts >= 2
    frs = np.full(n, np.nan)
    frs[answered] = gap[starts[answered] + 1]
    p_resolved = np.clip(0.95 - 0.035 * np.maximum(counts - 1, 0) ** 0.7 - 0.25 * ~answered, 0.3, 0.98)
    resolved = ended & (rng.random(n) < p_resolved)
    zh = np.log(np.maximum(handle, 0.1) / _CONV_HANDLE_MIN[channel])
    zf = np.where(answered, np.log(np.where(answered, frs, 1.0) / _CONV_FIRST_S[channel]), 1.5)
    latent = 4.45 - 0.25 * zh - 0.35 * zf - 2.4 * ~resolved + 0.9 * rng.standard_normal(n)
    score = np.clip(np.rint(latent), 1, 5).astype(np.int64)
    surveyed = ended & (rng.random(n) < 0.6)
    conv_id = conv0 + np.arange(n, dtype=np.int64)

    cols = g._dim_cols(tenant, contract, customer, location, team, agent)
    cols |= {
        "conversation_id": conv_id,
        "channel": g.l_channel.take(channel),
        "tag": g.l_tag.take(tag),
        "started_at": _ts(ts),
        "ended_at": _ts(ended_us, ended),
        "message_count": counts,
        "first_response_seconds": frs,
        "handle_minutes": _nullable(handle, ended),
        "csat_score": pd.arrays.IntegerArray(score, ~surveyed),
        "resolved": resolved,
    }
    conversations = g._frame("conversations", cols)

    mcols = g._dim_cols(tenant[conv], contract[conv], customer[conv], location[conv], team[conv], agent[conv])
    size_med = np.where(outbound, _LEN_OUT[ch], _LEN_IN[ch])
    length = np.maximum(np.rint(size_med * np.exp(0.6 * rng.standard_normal(total))), 1)
    mcols |= {
        "message_id": msg0 + np.arange(total, dtype=np.int64),
        "conversation_id": conv_id[conv],
        "channel": g.l_channel.take(ch),
        "direction": g.l_direction.take(outbound.astype(np.int64)),
        "sent_at": _ts(sent),
        "response_seconds": _nullable(gap.astype(np.float64), outbound),
        "length_chars": length.astype(np.int64),
    }
    return conversations, g._frame("messages", mcols)
