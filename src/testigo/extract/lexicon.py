"""General word lists the rules share (English and Spanish). Nothing here names a real person."""

from __future__ import annotations

SPEECH_VERBS = frozenset(
    """said says say told tells tell added adds stated states explained explains asked asks
    responded responds replied replies shouted shouts yelled yells screamed screams cried cries
    wrote writes posted posts tweeted tweets claimed claims noted notes insisted insists
    described describes called calls continued continues recalled recalls confirmed confirms
    denied denies acknowledged acknowledges warned warns argued argues testified testifies
    recounted recounts labeled labeling labelled labels remarked announced announces declared
    declares alleged alleges charged pleaded pleads begged begs demanded demands repeated repeats
    answered answers whispered whispers countered counters wrote added told reported reports
    shared shares admitted admits emphasized emphasizes stressed stresses saying telling asking
    dijo dice dicen dijeron afirmó afirma declaró declara señaló señala explicó explica aseguró
    asegura agregó agrega añadió añade comentó comenta indicó indica expresó expresa manifestó
    contó cuenta relató relata preguntó pregunta respondió responde gritó grita escribió escribe
    publicó publica denunció denuncia sostuvo insistió advirtió reconoció negó""".split()
)
SAID_FORMS = frozenset(
    "said says say told tells dijo dice dijeron afirmó declaró señaló explicó aseguró agregó "
    "añadió comentó indicó expresó contó relató".split()
)

SPOKES_TITLES = frozenset(
    "spokesman spokeswoman spokesperson spokespeople representative portavoz vocero vocera".split()
)
OFFICER_TITLES = frozenset(
    """officer officers agent agents deputy deputies trooper troopers sergeant sgt lieutenant lt
    captain capt detective patrolman patrolwoman marshal ranger agente agentes oficial
    oficiales policía policia alguacil""".split()
)
OFFICIAL_TITLES = frozenset(
    """chief sheriff director commissioner mayor governor gov senator sen representative rep
    secretary judge councilman councilwoman councilmember administrator superintendent
    president minister commander supervisor prosecutor alcalde alcaldesa gobernador
    gobernadora jefe jefa director directora juez jueza senador senadora secretario
    secretaria fiscal congresista""".split()
)
LEGAL_TITLES = frozenset("attorney lawyer counsel defender abogado abogada".split())
JOURNALIST_TITLES = frozenset(
    "reporter journalist correspondent photographer editor periodista reportero reportera".split()
)
WITNESS_TITLES = frozenset(
    """resident neighbor neighbour bystander witness onlooker passerby volunteer activist
    organizer pastor priest teacher student friend coworker co-worker residente vecino vecina
    testigo voluntario voluntaria activista""".split()
)
KINSHIP = frozenset(
    """father mother son daughter wife husband brother sister child children kids kid sons
    daughters grandmother grandfather grandson granddaughter uncle aunt cousin nephew niece
    parents partner fiancé fiancée girlfriend boyfriend stepfather stepmother stepson
    stepdaughter relatives relative family padre madre hijo hija hijos hijas esposa esposo
    hermano hermana abuela abuelo tío tía primo prima sobrino sobrina pareja familia""".split()
)
TITLE_WORDS = (
    SPOKES_TITLES
    | OFFICER_TITLES
    | OFFICIAL_TITLES
    | LEGAL_TITLES
    | JOURNALIST_TITLES
    | WITNESS_TITLES
)

ARREST_WORDS = (
    "arrest",
    "arrested",
    "arresting",
    "detain",
    "detained",
    "detaining",
    "custody",
    "handcuffed",
    "deported",
    "deportation",
    "apprehended",
    "detenido",
    "detenida",
    "arrestado",
    "arrestada",
    "deportado",
    "deportada",
)

NON_NAME_WORDS = frozenset(
    """the a an and or but if after before when while with by in at from for to of on as this
    that these those there their they his her its our your my he she we it i you who what where
    why how once then also both all some many several most more less other another each every
    no not new old federal local national state city county police department office agency
    news live street avenue road boulevard highway lane drive school high university college
    church hospital center centre court jail prison facility times post chronicle tribune
    journal herald globe press daily weekly day night morning afternoon evening video photo
    caption facebook instagram twitter tiktok youtube snapchat whatsapp telemundo univision
    nbc cbs abc cnn fox msnbc npr pbs ap reuters afp efe associated hill patrol security
    enforcement service services customs border immigration homeland republican democrat
    democratic congress senate house white american mexican latino hispanic english spanish
    greater southern northern eastern western central north south east west upper lower
    mother's father's christmas easter thanksgiving memorial independence labor monday tuesday
    wednesday thursday friday saturday sunday january february march april may june july august
    september october november december god lord jesus el la los las del por según ese esa
    nueva nuevo inglaterra san santa fort mount lake port saint st team football soccer
    basketball baseball league club company inc corp llc group network channel station radio
    tv magazine website online party union association foundation committee council
    coalition project program act law order warrant""".split()
)

SENTENCE_STARTERS = frozenset(
    """after before when while although though because since during despite according asked
    meanwhile however still later earlier then now today yesterday last next once following
    as in on at by for with from without under over into outside inside near between among
    holding facing walking pinned recorded filmed video footage relatives witnesses officers
    agents police authorities officials neighbors""".split()
)
