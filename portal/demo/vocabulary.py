"""Static vocabulary of the demo data: cities, names, tenant profiles, vendors and rate tables."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---------------------------------------------------------------------------
# Static vocabulary

_REGIONS = ("Sudeste", "Sul", "Nordeste", "Centro-Oeste", "Norte")
# (city, state, region index, neighbourhoods)
_CITIES: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("São Paulo", "SP", 0, ("Paulista", "Pinheiros", "Moema", "Vila Olímpia", "Santo Amaro", "Tatuapé")),
    ("Rio de Janeiro", "RJ", 0, ("Centro", "Barra da Tijuca", "Botafogo", "Tijuca")),
    ("Belo Horizonte", "MG", 0, ("Savassi", "Funcionários", "Pampulha")),
    ("Curitiba", "PR", 1, ("Batel", "Centro Cívico", "CIC")),
    ("Porto Alegre", "RS", 1, ("Moinhos de Vento", "Centro Histórico", "Navegantes")),
    ("Recife", "PE", 2, ("Boa Viagem", "Recife Antigo", "Imbiribeira")),
    ("Salvador", "BA", 2, ("Pituba", "Comércio", "Itaigara")),
    ("Fortaleza", "CE", 2, ("Aldeota", "Meireles", "Messejana")),
    ("Brasília", "DF", 3, ("Asa Sul", "Asa Norte", "SIA")),
    ("Manaus", "AM", 4, ("Distrito Industrial", "Adrianópolis")),
    ("Campinas", "SP", 0, ("Cambuí", "Barão Geraldo")),
    ("Goiânia", "GO", 3, ("Setor Bueno", "Setor Marista")),
    ("Florianópolis", "SC", 1, ("Centro", "Trindade")),
    ("Belém", "PA", 4, ("Nazaré", "Umarizal")),
)
_REGION_COST = np.array([1.1, 1.0, 0.85, 1.0, 0.95])  # labour cost factor by region

_FIRST_NAMES = (
    "Ana", "Bruno", "Camila", "Diego", "Eduarda", "Felipe", "Gabriela", "Henrique", "Isabela", "João",
    "Juliana", "Lucas", "Larissa", "Marcos", "Mariana", "Nicolas", "Patrícia", "Rafael", "Renata", "Rodrigo",
    "Sabrina", "Thiago", "Vanessa", "Vinícius", "Beatriz", "Carlos", "Fernanda", "Gustavo", "Letícia",
    "Mateus", "Natália", "Pedro", "Priscila", "Ricardo", "Tatiane", "André", "Aline", "Leonardo", "Débora",
    "Fábio",
)  # fmt: skip
_LAST_NAMES = (
    "Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes",
    "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares", "Fernandes", "Vieira", "Barbosa",
    "Rocha", "Dias", "Nascimento", "Andrade", "Moreira", "Nunes", "Marques", "Machado", "Mendes", "Freitas",
    "Cardoso", "Ramos", "Gonçalves", "Santana", "Teixeira", "Araújo", "Pinto", "Monteiro", "Correia",
    "Cavalcanti",
)  # fmt: skip
_COMPANY_WORDS = (
    "Horizonte", "Aurora", "Atlântico", "Ipê", "Jacarandá", "Serra Azul", "Boa Vista", "Vale Verde",
    "Cruzeiro",
    "Paulista", "Tropical", "Guanabara", "Pampa", "Araucária", "Itapuã", "Marajó", "Pantanal", "Planalto",
    "Solar", "Bandeirantes", "Cerrado", "Capibaribe", "Iguaçu", "Tietê", "Carioca", "Mantiqueira", "Jatobá",
    "Maré Alta", "Sertão", "Costa Dourada", "Nova Era", "Estrela", "Girassol", "Canaã", "Coqueiral",
    "Piracema",
)  # fmt: skip
_COMPANY_SUFFIXES = ("S.A.", "Ltda.", "", "", "", "do Brasil", "Participações")
_SITE_KINDS = ("Filial", "Unidade", "Escritório", "Centro de Distribuição", "Anexo")

_PRIORITIES = ("low", "normal", "high", "urgent")
_SLA_FACTOR = np.array([2.0, 1.0, 1 / 3, 1 / 6])  # target = contract sla_hours x factor
_RES_RATIO = np.array([0.30, 0.38, 0.45, 0.55])  # median resolution / target
_FR_PRIORITY = np.array([1.6, 1.0, 0.6, 0.3])
_MAINT_TARGET_H = np.array([120.0, 48.0, 12.0, 4.0])  # corrective, at a 24 h contract

_CHANNELS = ("email", "phone", "chat", "whatsapp", "portal")
_TICKET_FR_MIN = np.array([95.0, 2.0, 4.0, 8.0, 140.0])  # median first response (min)
_CONV_FIRST_S = np.array([5400.0, 25.0, 45.0, 120.0, 7200.0])  # median first agent reply (s)
_CONV_REPLY_S = np.array([4800.0, 20.0, 40.0, 100.0, 6000.0])
_CONV_CUSTOMER_S = np.array([10800.0, 30.0, 60.0, 300.0, 14400.0])
_CONV_WRAP_S = np.array([1800.0, 90.0, 150.0, 300.0, 2400.0])
_CONV_MSG_WEIGHT = np.array([0.7, 1.0, 1.3, 1.4, 0.6])
_CONV_HANDLE_MIN = np.array([600.0, 3.0, 8.0, 25.0, 800.0])  # typical duration, for CSAT
_LEN_IN = np.array([480.0, 160.0, 70.0, 55.0, 380.0])
_LEN_OUT = np.array([620.0, 180.0, 110.0, 90.0, 450.0])

_TICKET_STATUS = ("open", "in_progress", "closed")
_MAINT_STATUS = ("open", "in_progress", "completed", "cancelled")
_KINDS = ("preventive", "corrective")
_DIRECTIONS = ("inbound", "outbound")
# fixed-date national holidays (month, day): volumes like a Sunday
_HOLIDAYS = ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (11, 20), (12, 25))


@dataclass(frozen=True)
class _Team:
    name: str
    kind: str  # desk | field | specialist
    affinity: tuple[str, ...]
    mult: float  # resolution-time multiplier (> 1: slower team)


@dataclass(frozen=True)
class _Profile:
    categories: tuple[str, ...]
    category_weights: tuple[float, ...]
    category_mult: tuple[float, ...]
    priority_weights: tuple[float, ...]
    ticket_channels: tuple[float, ...]
    conv_channels: tuple[float, ...]
    tags: tuple[str, ...]
    tag_weights: tuple[float, ...]
    weekly: tuple[float, ...]
    hourly: tuple[float, ...]
    yearly_amp: float
    yearly_peak_doy: int
    growth: float
    spikes_per_year: float
    weekend_res: float
    conv_ratio: float
    maint_ratio: float
    expense_ratio: float
    segments: tuple[tuple[str, float, float, tuple[str, ...]], ...]  # name, weight, base value, prefixes
    city_weights: tuple[float, ...]
    teams: tuple[_Team, ...]
    services: tuple[str, ...]
    sla_weights: tuple[float, ...]  # for 8/12/24/48 h contracts
    assets: tuple[tuple[str, float, float, float, float], ...]  # name, weight, dur mult, labour h, parts
    preventive_share: float
    labor_rate: float
    expense_categories: tuple[tuple[str, float, float], ...]  # name, weight, median amount


_SLA_TIERS = np.array([8, 12, 24, 48])
_PLANS = ("Enterprise", "Premium", "Standard", "Essential")  # by SLA tier

_VENDORS: dict[str, tuple[str, ...]] = {
    "Materials": ("Casa do Construtor Paulista", "Ferragens Tietê Ltda.", "Depósito Serra Azul"),
    "Spare parts": ("Climatec Peças", "Elevapeças Brasil", "Distribuidora Elétrica Guanabara"),
    "Subcontractors": ("Reformas Horizonte Ltda.", "Serviços Técnicos Pampa", "Engemax Manutenção"),
    "Fuel": ("Auto Posto Bandeirantes", "Posto Via Dutra", "Rede Combustíveis Sul"),
    "Vehicle maintenance": ("Oficina Mecânica Ipiranga", "Pneus & Cia", "Centro Automotivo Marajó"),
    "Equipment rental": ("Locaequip Andaimes", "Plataformas Elevatórias Rental", "Geradores Norte Locação"),
    "Cleaning supplies": ("Higiclean Distribuidora", "Química Limpa Brasil", "Descartáveis Jacarandá"),
    "Uniforms & PPE": ("EPI Center", "Uniformes Aurora", "Segurança Total EPIs"),
    "Travel": ("Agência Viaje Bem", "Hotéis Rota Executiva", "Locadora Rota Sul"),
    "Software": ("SoftBrasil Sistemas", "Nuvem Tropical SaaS", "Licenças TI Prime"),
    "Utilities": ("Companhia de Energia Regional", "Saneamento Metropolitano", "TelCom Fixo"),
    "Network equipment": ("RedeMax Equipamentos", "Conecta Distribuidora", "Switches & Cia"),
    "Fiber & cabling": ("Fibras Atlântico", "Cabos Iguaçu", "Óptica Sul Cabeamento"),
    "Tower leasing": ("Torres Brasil Infra", "Sitesharing Nordeste"),
    "Energy": ("Companhia de Energia Regional", "Energia Solar Sertão", "Comercializadora Livre Sul"),
    "Marketing": ("Agência Maré Criativa", "Mídia Paulista Outdoor", "Digital Cajú"),
}

# relative volume by hour of day: business hours, or business hours plus an evening peak
_HOURLY_OFFICE = (
    0.15, 0.10, 0.08, 0.08, 0.10, 0.20, 0.50, 1.20, 2.60, 3.20, 3.30, 3.00,
    2.20, 2.60, 3.00, 3.00, 2.70, 2.20, 1.40, 0.90, 0.60, 0.45, 0.30, 0.20,
)  # fmt: skip
_HOURLY_CONSUMER = (
    0.30, 0.20, 0.15, 0.12, 0.12, 0.20, 0.45, 0.90, 1.80, 2.50, 2.80, 2.70,
    2.30, 2.40, 2.50, 2.50, 2.40, 2.30, 2.30, 2.50, 2.40, 1.90, 1.20, 0.60,
)  # fmt: skip

_PROFILES: dict[str, _Profile] = {
    "facilities": _Profile(
        categories=(
            "HVAC",
            "Electrical",
            "Plumbing",
            "Cleaning",
            "Security",
            "Elevators",
            "Access control",
            "General maintenance",
        ),
        category_weights=(0.20, 0.15, 0.12, 0.14, 0.08, 0.06, 0.07, 0.18),
        category_mult=(1.1, 0.9, 0.85, 0.5, 0.6, 1.4, 0.7, 1.0),
        priority_weights=(0.28, 0.47, 0.18, 0.07),
        ticket_channels=(0.22, 0.20, 0.10, 0.18, 0.30),
        conv_channels=(0.20, 0.15, 0.25, 0.30, 0.10),
        tags=("maintenance_request", "scheduling", "billing", "complaint", "information", "access_request"),
        tag_weights=(0.32, 0.18, 0.12, 0.10, 0.18, 0.10),
        weekly=(1.12, 1.08, 1.04, 1.02, 0.95, 0.35, 0.22),
        hourly=_HOURLY_OFFICE,
        yearly_amp=0.14,
        yearly_peak_doy=35,  # Brazilian summer: air conditioning
        growth=0.12,
        spikes_per_year=2.0,
        weekend_res=1.35,
        conv_ratio=0.60,
        maint_ratio=0.22,
        expense_ratio=0.22,
        segments=(
            ("Healthcare", 0.22, 45000.0, ("Hospital", "Clínica", "Laboratório", "Rede de Saúde")),
            ("Retail", 0.22, 30000.0, ("Supermercados", "Lojas", "Shopping", "Farmácias")),
            ("Corporate", 0.24, 38000.0, ("Grupo", "Banco", "Seguradora", "Construtora")),
            ("Industrial", 0.14, 52000.0, ("Indústrias", "Metalúrgica", "Alimentos", "Têxtil")),
            ("Education", 0.10, 22000.0, ("Colégio", "Universidade", "Instituto")),
            ("Hospitality", 0.08, 26000.0, ("Hotel", "Resort", "Rede Hoteleira")),
        ),
        city_weights=(0.30, 0.14, 0.09, 0.07, 0.06, 0.05, 0.05, 0.03, 0.08, 0.02, 0.06, 0.02, 0.02, 0.01),
        teams=(
            _Team("Central de Atendimento", "desk", (), 1.0),
            _Team("Campo São Paulo", "field", ("General maintenance", "Plumbing"), 0.95),
            _Team("Climatização", "specialist", ("HVAC",), 0.9),
            _Team("Plantão Noturno", "desk", (), 1.65),  # the slow one
            _Team("Elétrica e Energia", "specialist", ("Electrical", "Elevators"), 1.0),
            _Team("Supervisão de Limpeza", "field", ("Cleaning",), 0.75),
            _Team("Campo Rio de Janeiro", "field", ("General maintenance", "Plumbing"), 1.25),
            _Team("Central de Segurança", "desk", ("Security", "Access control"), 0.9),
            _Team("Grandes Contas", "desk", (), 0.8),
            _Team("Campo Sul", "field", ("General maintenance", "Electrical"), 1.3),
        ),
        services=(
            "Facilities Completo",
            "Manutenção Predial",
            "Climatização",
            "Limpeza e Conservação",
            "Segurança Eletrônica",
        ),
        sla_weights=(0.15, 0.30, 0.40, 0.15),
        assets=(
            ("HVAC", 0.26, 1.1, 4.0, 900.0),
            ("Elevator", 0.10, 1.4, 5.0, 2500.0),
            ("Electrical", 0.18, 0.9, 3.0, 400.0),
            ("Plumbing", 0.14, 0.8, 2.5, 250.0),
            ("Generator", 0.06, 1.3, 4.0, 1800.0),
            ("Fire safety", 0.08, 0.9, 3.0, 600.0),
            ("Lighting", 0.10, 0.6, 1.5, 150.0),
            ("Access control", 0.08, 0.7, 2.0, 500.0),
        ),
        preventive_share=0.55,
        labor_rate=95.0,
        expense_categories=(
            ("Materials", 0.20, 850.0),
            ("Spare parts", 0.15, 1400.0),
            ("Subcontractors", 0.10, 5200.0),
            ("Fuel", 0.12, 320.0),
            ("Vehicle maintenance", 0.06, 1100.0),
            ("Equipment rental", 0.06, 2300.0),
            ("Cleaning supplies", 0.12, 540.0),
            ("Uniforms & PPE", 0.06, 760.0),
            ("Travel", 0.07, 640.0),
            ("Software", 0.03, 1900.0),
            ("Utilities", 0.03, 2800.0),
        ),
    ),
    "telecom": _Profile(
        categories=(
            "Connectivity",
            "Billing",
            "Installation",
            "Equipment",
            "Plan change",
            "Cancellation",
            "Technical support",
            "Outage",
        ),
        category_weights=(0.22, 0.18, 0.10, 0.10, 0.08, 0.05, 0.20, 0.07),
        category_mult=(1.0, 0.6, 1.6, 1.2, 0.4, 0.8, 0.9, 0.7),
        priority_weights=(0.20, 0.50, 0.20, 0.10),
        ticket_channels=(0.12, 0.28, 0.15, 0.30, 0.15),
        conv_channels=(0.08, 0.20, 0.22, 0.45, 0.05),
        tags=(
            "technical_support",
            "billing",
            "sales",
            "cancellation",
            "plan_change",
            "installation",
            "complaint",
        ),
        tag_weights=(0.28, 0.22, 0.12, 0.06, 0.10, 0.10, 0.12),
        weekly=(1.08, 1.04, 1.00, 1.00, 0.98, 0.62, 0.50),
        hourly=_HOURLY_CONSUMER,
        yearly_amp=0.10,
        yearly_peak_doy=330,  # Black Friday and year-end
        growth=0.25,
        spikes_per_year=4.0,  # network outages
        weekend_res=1.15,
        conv_ratio=1.10,
        maint_ratio=0.045,
        expense_ratio=0.17,
        segments=(
            ("Enterprise", 0.20, 60000.0, ("Grupo", "Banco", "Holding", "Indústrias")),
            ("Mid-market", 0.35, 15000.0, ("Distribuidora", "Transportadora", "Construtora", "Logística")),
            ("SMB", 0.35, 2500.0, ("Padaria", "Auto Peças", "Academia", "Contabilidade", "Ótica")),
            ("Public sector", 0.10, 30000.0, ("Prefeitura de", "Câmara Municipal de", "Secretaria de Saúde")),
        ),
        city_weights=(0.12, 0.08, 0.06, 0.09, 0.10, 0.13, 0.12, 0.11, 0.04, 0.03, 0.02, 0.03, 0.04, 0.03),
        teams=(
            _Team("Atendimento N1", "desk", (), 1.0),
            _Team(
                "Suporte Técnico N2", "specialist", ("Connectivity", "Technical support", "Equipment"), 1.1
            ),
            _Team("NOC", "specialist", ("Outage", "Connectivity"), 0.75),
            _Team("Campo Nordeste", "field", ("Installation", "Outage"), 1.7),  # the slow one
            _Team("Faturamento e Retenção", "desk", ("Billing", "Cancellation", "Plan change"), 0.9),
            _Team("Instalação em Campo", "field", ("Installation", "Equipment"), 1.2),
            _Team("Atendimento Empresarial", "desk", (), 0.85),
            _Team("Time WhatsApp", "desk", (), 1.0),
            _Team("Backoffice", "desk", ("Billing", "Plan change"), 1.15),
            _Team("Campo Sul", "field", ("Installation",), 1.1),
        ),
        services=(
            "Fibra Empresarial",
            "Link Dedicado",
            "Telefonia IP",
            "Móvel Corporativo",
            "SD-WAN Gerenciado",
        ),
        sla_weights=(0.25, 0.30, 0.30, 0.15),
        assets=(
            ("Network", 0.30, 0.8, 2.0, 1200.0),
            ("Fiber", 0.25, 1.3, 4.0, 800.0),
            ("Radio tower", 0.10, 1.6, 6.0, 3500.0),
            ("Generator", 0.08, 1.2, 3.5, 1800.0),
            ("HVAC", 0.10, 1.0, 3.0, 900.0),
            ("Power (UPS)", 0.10, 0.9, 2.5, 2200.0),
            ("Electrical", 0.07, 0.9, 2.5, 400.0),
        ),
        preventive_share=0.35,
        labor_rate=130.0,
        expense_categories=(
            ("Network equipment", 0.12, 7800.0),
            ("Fiber & cabling", 0.14, 3200.0),
            ("Subcontractors", 0.12, 6100.0),
            ("Fuel", 0.12, 380.0),
            ("Vehicle maintenance", 0.07, 1300.0),
            ("Tower leasing", 0.06, 11500.0),
            ("Energy", 0.08, 8400.0),
            ("Travel", 0.08, 900.0),
            ("Software", 0.06, 2600.0),
            ("Marketing", 0.08, 4800.0),
            ("Uniforms & PPE", 0.07, 700.0),
        ),
    ),
}

# ---------------------------------------------------------------------------
# Small vectorised helpers
