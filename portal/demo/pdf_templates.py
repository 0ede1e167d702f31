"""The demo tenant's PDF templates: a monthly SLA report grouped by customer (cover, table of
contents, a section per customer) and a maintenance & expenses report in landscape (KPIs,
charts, a long table). Between them they use every element kind of ``portal.specs.pdf``.
"""

from __future__ import annotations

import io
from typing import Any

from sqlalchemy.orm import Session

from portal.identity.principal import principal_for_user
from portal.models import PdfTemplate, User
from portal.pdf import templates
from portal.specs.pdf import PdfTemplateSpec, parse_template

LOGO_ASSET = "logo.png"
LAST_90_DAYS = "{{now-90d}}..{{now}}"


def _box(x: float, y: float, w: float, h: float) -> dict[str, float]:
    return {"x": x, "y": y, "w": w, "h": h}


def _tickets(metrics: list[dict[str, Any]], group_by: list[Any], **extra: Any) -> dict[str, Any]:
    return {"query": {"source": "tickets", "metrics": metrics, "group_by": group_by, **extra}}


COUNT = {"agg": "count", "as": "tickets"}
BREACH = {"agg": "avg", "column": "sla_breached", "as": "breach_rate"}
RESOLUTION = {"agg": "avg", "column": "resolution_hours", "as": "resolution_h"}


def _tickets_kpi(element_id: str, box: dict[str, float]) -> dict[str, Any]:
    return {
        "kind": "kpi",
        "id": element_id,
        "box": box,
        "binding": _tickets([COUNT], []),
        "kpi": {"value": "tickets", "label": "Chamados", "format": "integer"},
    }


def _breach_kpi(element_id: str, box: dict[str, float], **thresholds: float) -> dict[str, Any]:
    kpi = {
        "value": "breach_rate",
        "label": "Violação de SLA",
        "format": "percent",
        "decimals": 1,
        "higher_is_better": False,
        **thresholds,
    }
    return {"kind": "kpi", "id": element_id, "box": box, "binding": _tickets([BREACH], []), "kpi": kpi}


def sla_report() -> PdfTemplateSpec:
    """Monthly SLA report: cover, contents, an overview, then one section per customer."""
    cover = {
        "kind": "cover",
        "name": "Capa",
        "elements": [
            {
                "kind": "rect",
                "id": "cover_band",
                "box": _box(0, 0, 210, 95),
                "fill": "#1e3a8a",
                "width_mm": 0,
            },
            {"kind": "image", "id": "cover_logo", "box": _box(20, 20, 30, 30), "asset": LOGO_ASSET},
            {
                "kind": "title",
                "id": "cover_title",
                "box": _box(20, 60, 170, 16),
                "text": "Relatório mensal de SLA",
                "size": 28,
                "color": "#ffffff",
                "in_toc": False,
            },
            {
                "kind": "text",
                "id": "cover_period",
                "box": _box(20, 110, 170, 10),
                "text": "Período: {{period.start|date}} a {{period.end|date}}",
                "size": 13,
            },
            {
                "kind": "text",
                "id": "cover_generated",
                "box": _box(20, 122, 170, 10),
                "text": "Gerado em {{now|datetime}} para {{user.name}} — {{brand.company}}",
                "color": "#64748b",
            },
            {
                "kind": "line",
                "id": "cover_rule",
                "box": _box(20, 136, 170, 0.001),
                "color": "#2563eb",
                "width_mm": 0.6,
            },
            {
                "kind": "text",
                "id": "cover_note",
                "box": _box(20, 142, 170, 40),
                "text": (
                    "Chamados abertos nos últimos 90 dias, violação de SLA por cliente, local e equipe. "
                    "Totais e subtotais recalculados pela regra de cada métrica (taxas são médias dos "
                    "chamados, nunca somas de médias)."
                ),
            },
        ],
    }
    overview = {
        "kind": "body",
        "name": "Visão geral",
        "elements": [
            {"kind": "toc", "id": "toc", "box": _box(15, 30, 180, 60), "title": "Sumário"},
            {"kind": "page_break", "id": "after_toc", "box": _box(15, 95, 180, 1)},
            {"kind": "title", "id": "overview_title", "box": _box(15, 100, 180, 12), "text": "Visão geral"},
            _tickets_kpi("kpi_tickets", _box(15, 116, 56, 26)),
            # thresholds read value / target with a target: twice the target is the limit
            _breach_kpi("kpi_breach", _box(77, 116, 56, 26), target=0.1, warn_at=2.0),
            {
                "kind": "kpi",
                "id": "kpi_resolution",
                "box": _box(139, 116, 56, 26),
                "binding": _tickets([RESOLUTION], []),
                "kpi": {
                    "value": "resolution_h",
                    "label": "Resolução média",
                    "format": "duration_h",
                    "decimals": 1,
                    "higher_is_better": False,
                },
            },
            {
                "kind": "chart",
                "id": "chart_breach_team",
                "box": _box(15, 148, 180, 70),
                "binding": _tickets(
                    [BREACH, COUNT], ["team_name"], sort=[{"by": "breach_rate", "desc": True}]
                ),
                "chart": {
                    "viz": "bar",
                    "x": "team_name",
                    "y": ["breach_rate"],
                    "title": "Violação de SLA por equipe",
                },
            },
            {
                "kind": "table",
                "id": "table_customers",
                "box": _box(15, 224, 180, 50),
                "binding": _tickets([COUNT, BREACH, RESOLUTION], ["customer_name"]),
                "columns": [
                    {"name": "customer_name", "label": "Cliente", "width": 3},
                    {"name": "tickets", "label": "Chamados", "format": "integer"},
                    {
                        "name": "breach_rate",
                        "label": "Violação",
                        "format": "percent",
                        "decimals": 1,
                        "rules": [{"op": ">", "than": 0.2, "color": "#b91c1c", "fill": "#fee2e2"}],
                    },
                    {"name": "resolution_h", "label": "Resolução (h)", "format": "number", "decimals": 1},
                ],
                "totals": True,
            },
        ],
    }
    sections = {
        "kind": "body",
        "name": "Por cliente",
        "elements": [
            {
                "kind": "section",
                "id": "by_customer",
                "box": _box(15, 30, 180, 225),
                "binding": _tickets([COUNT], ["customer_name"], sort=[{"by": "tickets", "desc": True}]),
                "group_by": "customer_name",
                "title": "{{group.value}}",
                "page_break_before": True,
                "max_groups": 12,
                "children": [
                    _tickets_kpi("cust_tickets", _box(0, 14, 56, 26)),
                    _breach_kpi("cust_breach", _box(62, 14, 56, 26), good_at=0.1, warn_at=0.2),
                    {
                        "kind": "chart",
                        "id": "cust_weekly",
                        "box": _box(0, 46, 180, 70),
                        "binding": _tickets(
                            [COUNT], [{"column": "opened_at", "bucket": "week", "as": "week"}, "priority"]
                        ),
                        "chart": {
                            "viz": "column",
                            "x": "week",
                            "y": ["tickets"],
                            "series": "priority",
                            "stacked": True,
                            "title": "Chamados por semana e prioridade",
                        },
                    },
                    {
                        "kind": "table",
                        "id": "cust_locations",
                        "box": _box(0, 122, 180, 110),
                        "binding": _tickets([COUNT, BREACH, RESOLUTION], ["location_name", "team_name"]),
                        "columns": [
                            {"name": "location_name", "label": "Local", "width": 2},
                            {"name": "team_name", "label": "Equipe", "width": 2},
                            {"name": "tickets", "label": "Chamados", "format": "integer"},
                            {
                                "name": "breach_rate",
                                "label": "Violação",
                                "format": "percent",
                                "decimals": 1,
                                "rules": [{"op": ">", "than": 0.2, "color": "#b91c1c"}],
                            },
                            {
                                "name": "resolution_h",
                                "label": "Resolução (h)",
                                "format": "number",
                                "decimals": 1,
                            },
                        ],
                        "subtotals_by": "location_name",
                        "totals": True,
                    },
                ],
            }
        ],
    }
    return parse_template(
        {
            "name": "Relatório mensal de SLA",
            "description": "SLA por cliente: capa, sumário, visão geral e uma seção por cliente.",
            "page": {"size": "A4", "orientation": "portrait"},
            "theme": {
                "name": "Conductor",
                "brand": {"company": "Conductor BI"},
                "header": {"text": "{{brand.company}} · Relatório mensal de SLA", "logo": LOGO_ASSET},
                "footer": {"page_numbers": True, "align": "right", "text": "Gerado em {{now|date}}"},
            },
            "pages": [cover, overview, sections],
            "filters": {"time_range": LAST_90_DAYS},
            "info": {
                "title": "Relatório mensal de SLA",
                "author": "Conductor BI",
                "subject": "SLA por cliente",
            },
        }
    )


def _orders(metrics: list[dict[str, Any]], group_by: list[Any], **extra: Any) -> dict[str, Any]:
    query = {
        "source": "maintenance_orders",
        "metrics": metrics,
        "group_by": group_by,
        "filters": [{"column": "city", "op": "=", "value": "{{params.city}}"}],
        "params": {"city": "São Paulo"},
        **extra,
    }
    return {"query": query}


def _expenses(metrics: list[dict[str, Any]], group_by: list[Any], **extra: Any) -> dict[str, Any]:
    query = {
        "source": "expenses",
        "metrics": metrics,
        "group_by": group_by,
        "filters": [{"column": "city", "op": "=", "value": "{{params.city}}"}],
        "params": {"city": "São Paulo"},
        **extra,
    }
    return {"query": query}


COST = {"agg": "sum", "column": "total_cost", "as": "cost"}
ORDERS = {"agg": "count", "as": "orders"}
AMOUNT = {"agg": "sum", "column": "amount", "as": "amount"}
BUDGET = {"agg": "sum", "column": "budget", "as": "budget"}


def maintenance_report() -> PdfTemplateSpec:
    """Maintenance & expenses of one city, landscape: KPIs, charts, a long table of orders."""
    first = {
        "kind": "body",
        "name": "Resumo",
        "elements": [
            {
                "kind": "title",
                "id": "title",
                "box": _box(15, 28, 267, 14),
                "text": "Relatório de Manutenção — {{params.city}}",
                "size": 22,
            },
            {
                "kind": "text",
                "id": "subtitle",
                "box": _box(15, 43, 267, 8),
                "text": "{{period.start|date}} a {{period.end|date}} · ordens de serviço e despesas",
                "color": "#64748b",
            },
            {
                "kind": "kpi",
                "id": "kpi_cost",
                "box": _box(15, 54, 62, 26),
                "binding": _orders([COST], []),
                "kpi": {"value": "cost", "label": "Custo de manutenção", "format": "currency"},
            },
            {
                "kind": "kpi",
                "id": "kpi_orders",
                "box": _box(83, 54, 62, 26),
                "binding": _orders([ORDERS], []),
                "kpi": {"value": "orders", "label": "Ordens de serviço", "format": "integer"},
            },
            {
                "kind": "kpi",
                "id": "kpi_expenses",
                "box": _box(151, 54, 62, 26),
                "binding": _expenses([AMOUNT], []),
                "kpi": {"value": "amount", "label": "Despesas", "format": "currency"},
            },
            {
                "kind": "kpi",
                "id": "kpi_sla",
                "box": _box(219, 54, 63, 26),
                "binding": _orders([{"agg": "avg", "column": "sla_breached", "as": "breach_rate"}], []),
                "kpi": {
                    "value": "breach_rate",
                    "label": "Ordens fora do SLA",
                    "format": "percent",
                    "decimals": 1,
                    "higher_is_better": False,
                },
            },
            {
                "kind": "chart",
                "id": "chart_cost_month",
                "box": _box(15, 86, 130, 78),
                "binding": _orders(
                    [COST], [{"column": "opened_at", "bucket": "month", "as": "month"}, "kind"]
                ),
                "chart": {
                    "viz": "column",
                    "x": "month",
                    "y": ["cost"],
                    "series": "kind",
                    "stacked": True,
                    "title": "Custo por mês e tipo",
                },
            },
            {
                "kind": "chart",
                "id": "chart_expense_category",
                "box": _box(152, 86, 130, 78),
                "binding": _expenses([AMOUNT], ["category"]),
                "chart": {
                    "viz": "donut",
                    "x": "category",
                    "y": ["amount"],
                    "title": "Despesas por categoria",
                },
            },
            {"kind": "line", "id": "rule", "box": _box(15, 168, 267, 0.001), "color": "#cbd5e1"},
            {
                "kind": "table",
                "id": "table_expenses",
                "box": _box(15, 172, 267, 20),
                "binding": _expenses([AMOUNT, BUDGET], ["cost_center", "category"]),
                "columns": [
                    {"name": "cost_center", "label": "Centro de custo", "width": 2},
                    {"name": "category", "label": "Categoria", "width": 2},
                    {"name": "amount", "label": "Despesa", "format": "currency"},
                    {"name": "budget", "label": "Orçamento", "format": "currency"},
                ],
                "subtotals_by": "cost_center",
                "totals": True,
            },
        ],
    }
    orders = {
        "kind": "body",
        "name": "Ordens",
        "elements": [
            {
                "kind": "title",
                "id": "orders_title",
                "box": _box(15, 28, 267, 12),
                "text": "Ordens de serviço",
            },
            {
                "kind": "table",
                "id": "table_orders",
                "box": _box(15, 42, 267, 150),
                "binding": {
                    "query": {
                        "source": "maintenance_orders",
                        "columns": [
                            "order_id",
                            "opened_at",
                            "location_name",
                            "asset_type",
                            "kind",
                            "priority",
                            "status",
                            "duration_hours",
                            "total_cost",
                        ],
                        "filters": [{"column": "city", "op": "=", "value": "{{params.city}}"}],
                        "params": {"city": "São Paulo"},
                        "sort": [{"by": "opened_at", "desc": True}],
                        "limit": 3000,
                    }
                },
                "columns": [
                    {"name": "order_id", "label": "Ordem"},
                    {"name": "opened_at", "label": "Aberta em", "format": "date", "width": 1.3},
                    {"name": "location_name", "label": "Local", "width": 2.2},
                    {"name": "asset_type", "label": "Ativo", "width": 1.5},
                    {"name": "kind", "label": "Tipo", "width": 1.3},
                    {"name": "priority", "label": "Prioridade"},
                    {"name": "status", "label": "Situação"},
                    {"name": "duration_hours", "label": "Duração (h)", "format": "number", "decimals": 1},
                    {
                        "name": "total_cost",
                        "label": "Custo",
                        "format": "currency",
                        "rules": [{"op": ">", "than": 5000, "color": "#b91c1c"}],
                    },
                ],
                "totals": False,
                "font_size": 8,
            },
        ],
    }
    return parse_template(
        {
            "name": "Relatório de Manutenção e Despesas",
            "description": "Manutenção e despesas de uma cidade, em paisagem: gráficos e a lista de ordens.",
            "page": {"size": "A4", "orientation": "landscape", "margins": {"top": 12, "bottom": 12}},
            "theme": {
                "name": "Conductor",
                "brand": {"company": "Conductor BI"},
                "header": {"text": "{{brand.company}} · Manutenção — {{params.city}}", "logo": LOGO_ASSET},
                "footer": {"page_numbers": True, "align": "right"},
            },
            "pages": [first, orders],
            "parameters": [{"name": "city", "label": "Cidade", "type": "text", "default": "São Paulo"}],
            "filters": {"time_range": LAST_90_DAYS},
            "info": {
                "title": "Relatório de Manutenção e Despesas",
                "author": "Conductor BI",
                "subject": "Manutenção e despesas por cidade",
            },
        }
    )


def demo_logo() -> bytes:
    """A small PNG logo (drawn, so no file ships for it)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (240, 240), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((8, 8, 232, 232), radius=48, fill=(37, 99, 235, 255))
    draw.ellipse((60, 60, 180, 180), outline=(255, 255, 255, 255), width=22)
    draw.rectangle((150, 104, 214, 136), fill=(37, 99, 235, 255))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=False)
    return out.getvalue()


def seed_demo_templates(session: Session, owner: User) -> list[PdfTemplate]:
    """The two demo templates (public) and the logo they use, for the owner's tenant."""
    principal = principal_for_user(session, owner)
    templates.upload_asset(session, principal, LOGO_ASSET, demo_logo())
    return [
        templates.create_template(session, principal, spec, comment="demo template", visibility="public")
        for spec in (sla_report(), maintenance_report())
    ]
