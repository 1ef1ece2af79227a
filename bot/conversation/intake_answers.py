"""Reading a person's answers to the intake questions, in es/pt/en, as a person would.

Plain functions over the message text (and the entities NLU found), tested without a
tracker. Each returns a value, or one of the markers of `form_answers`: UNKNOWN ("no sé"),
DECLINED (skipped an optional question) or NOT_UNDERSTOOD (ask again with an example).
Answers arrive with whatever intent NLU guessed ("técnico en electricidad" looks like a
recognition question, "por la mañana" like a goodbye), so the text decides, not the intent.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any

from bot.conversation.durations import parse_months
from bot.conversation.form_answers import DECLINED, NOT_UNDERSTOOD, UNKNOWN, plain, yes_no
from casework.intake import CONTACT_TIMES, QUALIFICATIONS
from knowledge.model import NEEDS

MAX_NAME_WORDS = 5
MAX_PLACE_WORDS = 6
MAX_FIELD_CHARS = 80
ADULT_AGE = 18

_WORD = re.compile(r"[a-z]+")
_NUMBER = re.compile(r"\d+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_DONT_KNOW = re.compile(
    r"\b(no (lo )?se|todavia no (lo )?se|aun no (lo )?se|no estoy segur[oa]|ni idea|no tengo fecha|"
    r"nao sei|ainda nao sei|nao tenho certeza|sem data|"
    r"i don ?t know|not sure|no idea|don ?t know yet|no date)\b"
)
_DECLINE = re.compile(
    r"\b(prefiero no|no quiero (decir|contestar|responder)|paso|saltar|omitir|"
    r"prefiro nao|nao quero (dizer|responder)|pular|"
    r"rather not|prefer not|skip|pass)\b"
)

NUMBER_WORDS: dict[str, int] = {
    "un": 1, "una": 1, "uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7,
    "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12, "trece": 13, "catorce": 14, "quince": 15,
    "dieciseis": 16, "diecisiete": 17,
    "um": 1, "uma": 1, "dois": 2, "duas": 2, "quatro": 4, "sete": 7, "oito": 8, "nove": 9, "dez": 10,
    "onze": 11, "treze": 13, "quatorze": 14, "catorze": 14, "dezesseis": 16, "dezessete": 17,
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17,
}


def fold(text: str) -> str:
    """Lower case without accents, one output character per input character (offsets hold)."""
    out = []
    for char in text:
        base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
        out.append(base.lower()[:1] if base else char)
    return "".join(out)


def _words(text: str) -> list[str]:
    return _WORD.findall(plain(text))


def _numbers_in(text: str) -> list[int]:
    """Digits and number words, in the order written ("dos hijos de 5 y 9" -> [2, 5, 9])."""
    values = []
    for token in re.findall(r"\d+|[a-z]+", plain(text)):
        if token.isdigit():
            values.append(int(token))
        elif token in NUMBER_WORDS and token not in ("a", "an", "un", "uma", "um", "una"):
            values.append(NUMBER_WORDS[token])
    return values


def _strip_lead(text: str, leads: tuple[str, ...]) -> str:
    """Drop an introduction ("me llamo", "vivo en") from the start of an answer."""
    cleaned = text.strip().strip(".!¡¿").strip()
    folded = plain(cleaned)
    for lead in sorted(leads, key=len, reverse=True):
        if folded.startswith(lead + " "):
            return cleaned[len(lead):].strip(" ,:")
    return cleaned


# --- consent, age -------------------------------------------------------------------


def consent(intent: str | None, text: str) -> Any:
    """True only for a clear yes; False for a no; never assumed."""
    value = yes_no(intent if intent in ("affirm", "deny") else None, text)
    if value in (True, False):
        return value
    words = set(_words(text))
    if words & {"acepto", "aceito", "agree", "accept", "consiento", "concordo", "autorizo"}:
        return True
    return NOT_UNDERSTOOD


def adult(intent: str | None, text: str) -> Any:
    """True for 18 or older; an age in the answer wins over yes/no ("sí, tengo 17" is a minor)."""
    ages = [n for n in _numbers_in(text) if 5 <= n <= 110]
    if ages:
        return ages[-1] >= ADULT_AGE
    value = yes_no(intent if intent in ("affirm", "deny") else None, text)
    return value if value in (True, False) else NOT_UNDERSTOOD


# --- name and places ----------------------------------------------------------------

_NAME_LEADS = (
    "me llamo", "mi nombre es", "soy", "llamame", "puedes llamarme", "pueden llamarme", "dime", "llamenme",
    "me chamo", "meu nome e", "sou", "pode me chamar de", "me chame de", "me chamem de",
    "my name is", "i am", "i'm", "im", "call me", "you can call me",
)


def name(text: str) -> Any:
    """How to address the person: a short name, without digits, e-mail or question."""
    cleaned = _strip_lead(text, _NAME_LEADS)
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" ,.;:!")
    if not cleaned or "?" in text or "@" in cleaned or _NUMBER.search(cleaned):
        return NOT_UNDERSTOOD
    words = cleaned.split()
    if len(words) > MAX_NAME_WORDS or len(cleaned) > 60:
        return NOT_UNDERSTOOD
    if not all(re.fullmatch(r"[^\W\d_]+(?:[-'’.][^\W\d_]+)*\.?", w) for w in words):
        return NOT_UNDERSTOOD
    if set(_words(cleaned)) & {"no", "nao", "nope", "si", "sim", "yes", "hola", "ola", "hello", "hi"}:
        return NOT_UNDERSTOOD
    return " ".join(w[:1].upper() + w[1:] for w in words)


_PLACE_LEADS = (
    "a", "al", "en", "em", "para", "pra", "to", "in", "de", "da", "do", "the",
    "vuelvo a", "voy a", "volvere a", "regreso a", "quiero volver a", "a la ciudad de",
    "vivo en", "estoy en", "vivimos en", "volto para", "vou para", "moro em", "moramos em", "estou em",
    "i live in", "we live in", "back to", "going back to", "i'm going back to", "i am going back to",
)


def place(text: str, cities: list[str]) -> Any:
    """A city or region, as written: the one NLU recognised, else the short answer itself."""
    if cities:
        return cities[-1].strip()[:MAX_FIELD_CHARS]
    if _DONT_KNOW.search(plain(text)):
        return UNKNOWN
    cleaned = _strip_lead(text, _PLACE_LEADS).strip(" ,.;:!")
    if not cleaned or "?" in text or "@" in cleaned or _NUMBER.search(cleaned):
        return NOT_UNDERSTOOD
    if len(cleaned.split()) > MAX_PLACE_WORDS or len(cleaned) > MAX_FIELD_CHARS:
        return NOT_UNDERSTOOD
    if set(_words(cleaned)) <= {"no", "si", "sim", "yes", "nao", "ok", "vale"}:
        return NOT_UNDERSTOOD
    return cleaned


# --- time abroad, household, return date --------------------------------------------


def time_abroad(intent: str | None, text: str, today: dt.date) -> Any:
    """Whole months lived abroad ("hace 5 años", "desde 2019"), UNKNOWN, or NOT_UNDERSTOOD."""
    if intent == "dont_know" or _DONT_KNOW.search(plain(text)):
        return UNKNOWN
    months = parse_months(text, today)
    return months if months is not None and 0 <= months <= 80 * 12 else NOT_UNDERSTOOD


_ALONE = re.compile(
    r"^(solo yo|yo solo|yo sola|sola|solo|yo|nadie mas|solo|so eu|eu so|sozinh[oa]|eu sozinh[oa]|"
    r"just me|only me|me alone|alone|myself|by myself|me)$"
)
_ADULT_WORDS = {
    "adulto", "adultos", "adulta", "adultas", "adult", "adults", "mayores",
}
_CHILD_WORDS = {
    "nino", "ninos", "nina", "ninas", "hijo", "hijos", "hija", "hijas", "bebe", "bebes", "menor", "menores", "nene",
    "nenes", "crianca", "criancas", "filho", "filhos", "filha", "filhas",
    "child", "children", "kid", "kids", "son", "sons", "daughter", "daughters", "baby",
}
_SINGLE_CHILD = {"nino", "nina", "hijo", "hija", "bebe", "nene", "crianca", "filho", "filha", "child", "kid", "son",
                 "daughter", "baby", "menor"}
_COMPANION_WORDS = {
    "esposo", "esposa", "marido", "mujer", "pareja", "novio", "novia", "madre", "padre", "mama", "papa", "hermano",
    "hermana", "suegra", "suegro", "abuela", "abuelo", "companero", "companera",
    "companheiro", "companheira", "mae", "pai", "irmao", "irma", "namorado", "namorada", "avo",
    "husband", "wife", "partner", "mother", "father", "mum", "mom", "dad", "brother", "sister", "boyfriend",
    "girlfriend", "grandmother", "grandfather",
}
_SELF_WORDS = {"yo", "eu", "me", "i", "myself"}


def household(text: str) -> Any:
    """Who returns: {"adults": n, "children": [ages]}; children's ages are needed.

    "solo yo" -> 1 adult; "2 adultos y 2 niños de 5 y 9" -> 2 adults, [5, 9];
    "mi esposo y yo con nuestra hija de 7" -> 2 adults, [7]. Someone named as a child but
    18 or older counts as an adult. Children without ages are asked again.
    """
    folded = plain(text).strip(" .!,")
    if _ALONE.match(folded):
        return {"adults": 1, "children": []}
    tokens = re.findall(r"\d+|[a-z]+", folded)
    adults: int | None = None
    children: int | None = None
    ages: list[int] = []
    companions = 0
    has_self = False
    child_words = False
    for index, token in enumerate(tokens):
        value = int(token) if token.isdigit() else (NUMBER_WORDS.get(token) if token not in ("a", "an", "un", "um") else None)
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if value is not None:
            if following in _ADULT_WORDS or following in ("personas", "pessoas", "people"):
                adults = (adults or 0) + value
            elif following in _CHILD_WORDS:
                children = (children or 0) + value
                child_words = True
            else:
                ages.append(value)
        elif token in _CHILD_WORDS:
            child_words = True
            if token in _SINGLE_CHILD and not (index and _is_number(tokens[index - 1])):
                children = (children or 0) + 1
        elif token in _COMPANION_WORDS:
            companions += 1
        elif token in _SELF_WORDS:
            has_self = True
    if not child_words:
        ages = []  # "somos 4": a number alone is not a child's age; ask who is who
    grown = [age for age in ages if age >= ADULT_AGE]
    ages = [age for age in ages if age < ADULT_AGE]
    if child_words and not ages and not grown:
        return NOT_UNDERSTOOD  # "con mis hijos": ask for their ages
    if adults is None:
        if not (has_self or companions or grown or children or ages):
            return NOT_UNDERSTOOD
        adults = (1 if has_self or companions else 0) + companions + len(grown)
        adults = max(adults, 1)
    else:
        adults += len(grown)
    if children is None and ages:
        children = len(ages)
    children = max(0, (children or 0) - len(grown)) if children else 0
    if children and len(ages) != children:
        return NOT_UNDERSTOOD  # ask again: the ages of each child
    if not 1 <= adults <= 30:
        return NOT_UNDERSTOOD
    return {"adults": adults, "children": sorted(ages)}


def _is_number(token: str) -> bool:
    return token.isdigit() or token in NUMBER_WORDS


_ASAP = re.compile(
    r"\b(ya|ahora|cuanto antes|lo antes posible|lo mas pronto|enseguida|urgente|"
    r"ja|agora|o quanto antes|o mais rapido|o mais cedo|"
    r"asap|as soon as possible|right away|now|immediately)\b"
)
_NEXT_MONTH = re.compile(r"\b(el mes que viene|el proximo mes|proximo mes|mes que vem|no proximo mes|next month)\b")
_NEXT_YEAR = re.compile(r"\b(el ano que viene|el proximo ano|proximo ano|ano que vem|no proximo ano|next year)\b")
_THIS_YEAR = re.compile(r"\b(este ano|antes de fin de ano|neste ano|este ano ainda|this year|later this year)\b")
_MONTH_NAMES = {
    "enero": 1, "janeiro": 1, "january": 1, "febrero": 2, "fevereiro": 2, "february": 2,
    "marzo": 3, "marco": 3, "march": 3, "abril": 4, "april": 4, "mayo": 5, "maio": 5, "may": 5,
    "junio": 6, "junho": 6, "june": 6, "julio": 7, "julho": 7, "july": 7, "agosto": 8,
    "august": 8, "septiembre": 9, "setiembre": 9, "setembro": 9, "september": 9,
    "octubre": 10, "outubro": 10, "october": 10, "noviembre": 11, "novembro": 11,
    "november": 11, "diciembre": 12, "dezembro": 12, "december": 12,
}
MID_YEAR = 6  # "next year" / "in 2028" with no month: counted to the middle of that year


def return_months(intent: str | None, text: str, today: dt.date) -> Any:
    """Months from now until the planned return, UNKNOWN (no date in mind), or NOT_UNDERSTOOD.

    "cuanto antes" -> 0; "en marzo" -> months until the next March; "el año que viene" ->
    months until the middle of next year; "en 3 meses" / "daqui a um ano" -> 3 / 12.
    """
    folded = plain(text)
    if intent == "dont_know" or _DONT_KNOW.search(folded):
        return UNKNOWN
    tokens = re.findall(r"\d+|[a-z]+", folded)
    year = next((int(t) for t in tokens if t.isdigit() and len(t) == 4), None)
    # English "may" is also a verb ("I may go"): a month only in a short answer ("in May").
    month = next((_MONTH_NAMES[t] for t in tokens if t in _MONTH_NAMES and (t != "may" or len(tokens) <= 3)), None)
    if year is not None:
        if not today.year <= year <= today.year + 20:
            return NOT_UNDERSTOOD
        target = month or (today.month if year == today.year else MID_YEAR)
        return max(0, (year - today.year) * 12 + target - today.month)
    if month is not None:
        ahead = month - today.month
        return ahead if ahead >= 0 else ahead + 12
    if _NEXT_MONTH.search(folded):
        return 1
    if _NEXT_YEAR.search(folded):
        return 12 - today.month + MID_YEAR
    if _THIS_YEAR.search(folded):
        return max(0, 12 - today.month)
    months = parse_months(folded, today)
    if months is not None:
        return months if months <= 240 else NOT_UNDERSTOOD
    if _ASAP.search(folded):
        return 0
    return NOT_UNDERSTOOD


# --- needs, qualification, vulnerability ---------------------------------------------

_NOTHING = {"ninguna", "ninguno", "nada", "nenhuma", "nenhum", "none", "nothing", "no"}
_ALL = {"todo", "todas", "todos", "tudo", "all", "everything"}


def needs(text: str, found: list[str]) -> Any:
    """Several of knowledge.model.NEEDS: from the words NLU recognised, or option numbers (1-8)."""
    codes = [code for code in found if code in NEEDS]
    words = set(_words(text))
    if not codes:
        numbers = [int(n) for n in _NUMBER.findall(text)]
        if numbers and all(1 <= n <= len(NEEDS) for n in numbers):
            codes = [NEEDS[n - 1] for n in numbers]
        elif words & _ALL and len(words) <= 3:
            codes = list(NEEDS)
        elif words and words <= _NOTHING | {"gracias", "obrigado", "obrigada", "thanks", "mas", "more", "else"}:
            return []
    if not codes:
        return NOT_UNDERSTOOD
    return [code for code in NEEDS if code in codes]


_LEVELS: dict[str, tuple[str, ...]] = {
    "doctorate": ("doctorado", "doctora", "doctor", "doutorado", "doutora", "phd", "doctorate"),
    "master": ("master", "maestria", "magister", "mestrado", "mestre", "posgrado", "postgrado", "pos graduacao",
               "pos", "postgraduate", "masters"),
    "bachelor": ("universidad", "universitario", "universitaria", "licenciatura", "licenciado", "licenciada", "grado",
                 "ingeniero", "ingeniera", "ingenieria", "carrera", "faculdade", "graduacao", "graduado", "graduada",
                 "bacharel", "bacharelado", "licenciado", "superior completo", "university", "degree", "bachelor",
                 "bachelors", "college", "engineer"),
    "vocational": ("tecnico", "tecnica", "tecnologo", "tecnologa", "tecnologico", "formacion profesional", "fp",
                   "instituto", "sena", "curso tecnico", "ensino tecnico", "profissionalizante", "vocational",
                   "technical", "technician", "trade school", "apprenticeship"),
    "secondary": ("secundaria", "secundario", "bachillerato", "preparatoria", "liceo", "ensino medio", "medio",
                  "colegial", "high school", "secondary"),
    "primary": ("primaria", "primario", "basica", "ensino fundamental", "fundamental", "primary", "elementary"),
    "none": ("sin estudios", "nada", "ninguno", "ninguna", "no estudie", "no fui a la escuela", "sem estudos", "nenhum",
             "nao estudei", "none", "no schooling", "no formal"),
}
_FIELD_CONNECTORS = ("en", "em", "in", "de", "of", "do", "da", "y", "e", "and", "como", "as")


def qualification(text: str) -> Any:
    """{"level": one of QUALIFICATIONS, "field": the subject or None}: "técnico en electricidad"."""
    stripped = text.strip(" .!")
    folded = fold(stripped)
    if not folded or "?" in text:
        return NOT_UNDERSTOOD
    best: tuple[int, str, int] | None = None  # (rank, level, end of the matched words)
    for level, keywords in _LEVELS.items():
        for keyword in keywords:
            match = re.search(rf"\b{re.escape(keyword)}\b", folded)
            if match is None:
                continue
            rank = QUALIFICATIONS.index(level)
            if best is None or rank > best[0]:
                best = (rank, level, match.end())
    if best is None:
        return NOT_UNDERSTOOD
    _rank, level, end = best
    # `folded` keeps one character per character of `stripped`, so the offsets carry over
    # and the field keeps the person's spelling ("enfermería", not "enfermeria").
    rest = stripped[end:]
    words = rest.strip(" ,.:;-").split()
    while words and plain(words[0]) in _FIELD_CONNECTORS:
        words.pop(0)
    field_text = " ".join(words)[:MAX_FIELD_CHARS] if words and level not in ("none", "primary") else None
    return {"level": level, "field": field_text}


# Words that mean a situation an office should know about, mapped to the codes of
# knowledge.eligibility_rules.VULNERABILITY_CODES. Children returning with the person are
# in the household question, not here.
_VULNERABILITY_WORDS: dict[str, tuple[str, ...]] = {
    "pregnancy": ("embarazada", "embarazo", "gravida", "gestante", "gravidez", "pregnant", "pregnancy"),
    "disability": ("discapacidad", "discapacitado", "discapacitada", "deficiencia", "deficiente", "disability",
                   "disabled", "silla de ruedas", "cadeira de rodas", "wheelchair"),
    "serious_illness": ("enfermedad", "enfermo", "enferma", "cancer", "dialisis", "tratamiento", "doenca", "doente",
                        "tratamento", "illness", "sick", "ill", "treatment", "chemotherapy", "quimioterapia"),
    "elderly": ("mayor de 65", "tercera edad", "anciano", "anciana", "jubilado", "jubilada", "idoso", "idosa",
                "terceira idade", "elderly", "older person", "over 65", "pensioner"),
    "single_parent": ("monoparental", "sola con", "solo con", "madre soltera", "padre soltero", "sozinha com",
                      "sozinho com", "mae solteira", "pai solteiro", "single parent", "single mother", "single father"),
    "large_family": ("familia numerosa", "familia grande", "muchos hijos", "muitos filhos", "large family"),
    "violence": ("violencia", "maltrato", "maltrata", "me pega", "golpea", "abuso", "agresion", "violento",
                 "bate em mim", "agressao", "violence", "abuse", "abusive", "beats me", "hits me"),
    "trafficking": ("trata", "explotacion", "explotan", "me quitaron el pasaporte", "tráfico de personas",
                    "trafico de personas", "trafico de pessoas", "exploracao", "trabalho escravo", "trafficking",
                    "exploitation", "forced labour", "forced labor", "took my passport"),
    "torture": ("tortura", "torturado", "torturada", "torture", "tortured"),
    "persecution": ("amenaza", "amenazas", "amenazado", "amenazada", "persecucion", "perseguido", "perseguida",
                    "ameaca", "ameacas", "ameacado", "ameacada", "perseguicao", "threat", "threats", "threatened",
                    "persecution", "persecuted"),
    "homeless": ("en la calle", "sin techo", "sin hogar", "sin casa", "duermo en la calle", "albergue",
                 "situacao de rua", "sem teto", "sem casa", "moro na rua", "homeless", "on the street", "shelter"),
}
_NO_VULNERABILITY = {"ninguna", "ninguno", "nada", "no", "nenhuma", "nenhum", "nao", "none", "nothing", "nope"}


def vulnerabilities(intent: str | None, text: str) -> Any:
    """A list of vulnerability codes, [] for none, DECLINED (skipped), or NOT_UNDERSTOOD."""
    folded = plain(text)
    if folded.startswith("vuln:"):
        code = folded.split(":", 1)[1].strip()
        if code == "none":
            return []
        return [code] if code in _VULNERABILITY_WORDS else NOT_UNDERSTOOD
    found = [code for code, words in _VULNERABILITY_WORDS.items()
             if any(re.search(rf"\b{re.escape(plain(w))}\b", folded) for w in words)]
    if found:
        return found
    if intent == "skip" or _DECLINE.search(folded):
        return DECLINED
    words = set(_words(text))
    if intent == "deny" or (words and words <= _NO_VULNERABILITY | {"gracias", "obrigado", "obrigada", "thanks",
                                                                   "thank", "you", "de", "momento", "por", "ahora"}):
        return []
    return NOT_UNDERSTOOD


# --- contact, confirmation, edit ----------------------------------------------------

_CHANNEL_WORDS = {
    "chat": ("chat", "este chat", "por aqui", "aqui", "whatsapp", "telegram", "mensaje", "mensajes", "mensagem",
             "mensagens", "here", "this chat", "message", "messages", "escrito"),
    "phone": ("telefono", "llamada", "llamar", "llamen", "llamadas", "celular", "movil", "telefone", "ligacao",
              "ligar", "liguem", "phone", "call", "calls", "mobile"),
    "email": ("correo", "email", "e mail", "mail", "e-mail", "correo electronico"),
}


def contact(text: str) -> Any:
    """{"channel": chat|phone|email, "detail": the number/address or None}, or NOT_UNDERSTOOD."""
    email = _EMAIL.search(text)
    if email:
        return {"channel": "email", "detail": email.group(0)}
    phone = phone_number(text)
    if phone:
        return {"channel": "phone", "detail": phone}
    folded = plain(text)
    if folded.startswith("contact:"):
        channel = folded.split(":", 1)[1].strip()
        return {"channel": channel, "detail": None} if channel in _CHANNEL_WORDS else NOT_UNDERSTOOD
    found = [channel for channel, words in _CHANNEL_WORDS.items()
             if any(re.search(rf"\b{re.escape(w)}\b", folded) for w in words)]
    if len(found) == 1:
        return {"channel": found[0], "detail": None}
    return NOT_UNDERSTOOD


def phone_number(text: str) -> str | None:
    """A phone number written any usual way, kept with its + and digits only."""
    match = _PHONE.search(text)
    if not match:
        return None
    digits = re.sub(r"\D", "", match.group(0))
    if not 7 <= len(digits) <= 15:
        return None
    return ("+" if match.group(0).startswith("+") else "") + digits


def contact_detail(channel: str, text: str) -> Any:
    """The phone number or e-mail address for the chosen channel."""
    if channel == "email":
        match = _EMAIL.search(text)
        return match.group(0) if match else NOT_UNDERSTOOD
    return phone_number(text) or NOT_UNDERSTOOD


_TIME_WORDS = {
    "morning": ("manana", "por la manana", "de manana", "manha", "de manha", "morning", "am"),
    "afternoon": ("tarde", "a tarde", "por la tarde", "afternoon", "pm", "mediodia"),
    "evening": ("noche", "por la noche", "noite", "a noite", "evening", "night", "tonight"),
    "any": ("cualquier", "cualquiera", "da igual", "me da igual", "indiferente", "cuando sea", "qualquer",
            "tanto faz", "any", "anytime", "whenever", "doesn t matter"),
}


def contact_time(text: str) -> Any:
    """One of CONTACT_TIMES from "por la mañana", "à noite", "any time"..."""
    folded = plain(text)
    if folded.startswith("time:"):
        code = folded.split(":", 1)[1].strip()
        return code if code in CONTACT_TIMES else NOT_UNDERSTOOD
    found = [code for code, words in _TIME_WORDS.items()
             if any(re.search(rf"\b{re.escape(w)}\b", folded) for w in words)]
    if len(found) == 1:
        return found[0]
    return "any" if len(found) > 1 else NOT_UNDERSTOOD


# field code (buttons "edit:<code>" and the summary) -> the words people use for it
EDIT_FIELDS: dict[str, tuple[str, ...]] = {
    "name": ("nombre", "nome", "name", "llamarme", "chamar"),
    "origin": ("pais de origen", "pais al que vuelvo", "pais de origem", "origin", "home country", "vuelvo",
               "volto"),
    "return_city": ("ciudad a la que vuelvo", "ciudad de regreso", "region", "cidade para onde volto",
                    "return city", "city i return to", "ciudad de destino"),
    "residence": ("pais donde vivo", "pais de residencia", "donde vivo", "onde moro", "pais onde moro",
                  "residence", "where i live"),
    "residence_city": ("ciudad donde vivo", "mi ciudad", "cidade onde moro", "city where i live", "ciudad",
                       "cidade", "city"),
    "time_abroad": ("tiempo", "cuanto tiempo", "anos fuera", "tempo", "time abroad", "how long"),
    "household": ("familia", "hijos", "ninos", "quien vuelve", "familia", "filhos", "household", "children",
                  "family"),
    "return_when": ("cuando", "fecha", "cuando vuelvo", "quando", "data", "when", "date"),
    "needs": ("necesidades", "necesito", "ayuda", "necessidades", "preciso", "needs", "help"),
    "qualification": ("estudios", "formacion", "titulo", "estudos", "formacao", "studies", "education",
                      "qualification"),
    "vulnerability": ("situacion", "situacao", "situation", "vulnerabilidad"),
    "contact": ("contacto", "contactar", "telefono", "correo", "contato", "telefone", "contact", "phone", "email"),
    "contact_time": ("hora", "horario", "horario", "time of day", "hour"),
}


def edit_field(text: str) -> str | None:
    """Which field the person wants to change ("edit:needs", "cambiar la ciudad"), or None."""
    folded = plain(text)
    if folded.startswith("edit:"):
        code = folded.split(":", 1)[1].strip()
        return code if code in EDIT_FIELDS else None
    hits = [(len(w), code) for code, words in EDIT_FIELDS.items() for w in words
            if re.search(rf"\b{re.escape(w)}\b", folded)]
    return max(hits)[1] if hits else None


_CONFIRM = {"confirmar", "confirmo", "confirmado", "correcto", "correcta", "confirm", "confirmed", "correct",
            "perfecto", "perfeito", "enviar", "envialo", "envia", "send", "certo", "exacto", "exato", "listo"}
_EDIT = {"editar", "cambiar", "corregir", "modificar", "alterar", "mudar", "corrigir", "edit", "change", "fix",
         "wrong", "mal", "errado", "incorrecto", "incorreto"}


def confirmation(intent: str | None, text: str) -> Any:
    """True (send it), "edit" (something to change), or NOT_UNDERSTOOD."""
    folded = plain(text)
    words = set(_words(text))
    if folded.startswith("edit") or words & _EDIT or edit_field(text) and intent not in ("affirm",):
        if not words & _CONFIRM or words & _EDIT:
            return "edit"
    if words & _CONFIRM or intent == "affirm":
        return True
    if intent == "deny" or words & {"no", "nao", "nope"}:
        return "edit"
    value = yes_no(None, text)
    if value is True:
        return True
    return NOT_UNDERSTOOD


__all__ = [
    "DECLINED", "NOT_UNDERSTOOD", "UNKNOWN", "adult", "confirmation", "consent", "contact", "contact_detail",
    "contact_time", "edit_field", "household", "name", "needs", "phone_number", "place", "qualification",
    "return_months", "time_abroad", "vulnerabilities",
]
