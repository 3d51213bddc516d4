"""The tables a Brief fills from: styles (tempo, meter, band, form), moods, tempo words and texture words.

The structure model knows the styles in `melodex.structure.model.STYLES`; the styles people name beyond
those (bossa nova, trap, techno, metal, ...) have their own tempo, meter, band and form here and are
played as the nearest style the model knows (`model_style`). Texture words are the production's own
(`melodex.production.settings.WORD_TABLE`, checked by the tests), so every one shown reaches the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

from melodex.score import DRUM_PROGRAM as D


@dataclass(frozen=True)
class Style:
    name: str
    keywords: tuple[str, ...]
    description: str  # what MiniLM compares a vague prompt against
    bpm: int
    meter: tuple[int, int]
    band: tuple[int, ...]  # GM programs, 128 = drums
    energy: float
    form: tuple[tuple[str, int], ...]  # a typical form at this style's scale (bars)
    model_style: str | None = None  # the structure model's style it is played as (None: its own name)
    mood: str | None = None  # the style's usual mood, when its energy does not say it
    tonics: tuple[int, int] = (0, 9)  # usual tonic in major and in minor (pitch classes)

    @property
    def plays_as(self) -> str:
        return self.model_style or self.name


_POP_FORM = (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8))
_SONG = (("intro", 4), ("verse", 8), ("chorus", 8), ("outro", 4))
_CLUB = (("intro", 8), ("build", 8), ("drop", 8), ("outro", 8))
_AABA = (("A", 8), ("A", 8), ("B", 8), ("A", 8))

# The structure model's own styles first (their bands feed its training data: keep them as they are).
STYLES = (
    Style("synthwave", ("synthwave", "retrowave", "outrun", "80s synth", "vaporwave", "chillwave", "synthpop",
                        "synth pop", "synth-pop", "darkwave"),
          "retro 1980s synthwave with analog synths", 100, (4, 4), (81, 89, 38, D), 0.6, _SONG, tonics=(0, 5)),
    Style("lo-fi", ("lo-fi", "lofi", "lo fi", "chillhop", "study beats", "downtempo"),
          "mellow lo-fi hip hop beat with dusty piano", 84, (4, 4), (4, 33, D), 0.3, _SONG),
    Style("hip hop", ("hip hop", "hip-hop", "hiphop", "boom bap", "boom-bap", "rap", "trip hop", "trip-hop",
                      "grime", "drill"),
          "hip hop beat with heavy drums and bass", 90, (4, 4), (0, 38, D), 0.6,
          (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8))),
    Style("house", ("house", "edm", "dance", "club", "disco", "deep house", "tech house", "electro", "garage"),
          "four on the floor electronic dance music", 124, (4, 4), (81, 90, 38, D), 0.8, _CLUB),
    Style("pop", ("pop", "radio", "catchy", "indie pop", "dance pop", "electropop", "pop rock", "dream pop"),
          "catchy modern pop song", 110, (4, 4), (0, 81, 33, D), 0.6, _POP_FORM),
    Style("rock", ("rock", "grunge", "indie", "indie rock", "alternative", "alt rock", "hard rock", "classic rock",
                   "shoegaze", "rock and roll", "rock n roll", "rock'n'roll", "surf rock", "garage rock"),
          "energetic rock band with guitars and drums", 130, (4, 4), (29, 27, 33, D), 0.8,
          (("intro", 4), ("verse", 8), ("chorus", 8), ("bridge", 4), ("chorus", 8)), tonics=(4, 4)),
    Style("jazz", ("jazz", "swing", "bebop", "lounge", "smooth jazz", "cool jazz", "jazzy", "jazz standard",
                   "hard bop", "jazz fusion", "fusion"),
          "smooth jazz combo with piano and upright bass", 120, (4, 4), (0, 65, 32, D), 0.5, _AABA,
          tonics=(5, 0)),
    Style("blues", ("blues", "bluesy", "delta blues", "chicago blues"), "twelve bar blues with guitar", 96, (4, 4),
          (26, 0, 33, D), 0.5, (("verse", 12), ("verse", 12)), tonics=(9, 9)),
    Style("funk", ("funk", "funky", "groove", "disco funk"), "funky groove with slap bass", 105, (4, 4),
          (27, 4, 36, D), 0.7, (("intro", 4), ("verse", 8), ("chorus", 8)), tonics=(4, 4)),
    Style("ambient", ("ambient", "drone", "atmospheric", "meditation", "new age", "soundscape", "dark ambient"),
          "slow ambient soundscape with pads", 70, (4, 4), (89, 94, 4), 0.15,
          (("intro", 8), ("A", 8), ("B", 8), ("outro", 8))),
    Style("cinematic", ("cinematic", "film", "orchestral", "epic", "soundtrack", "score", "trailer", "movie"),
          "orchestral film score with strings and brass", 90, (4, 4), (48, 60, 73, 42, 47), 0.5,
          (("intro", 4), ("A", 8), ("B", 8), ("outro", 4)), tonics=(2, 2)),
    Style("classical", ("classical", "sonata", "string quartet", "minuet", "nocturne", "etude", "opera", "aria",
                        "romantic era", "concerto", "symphony", "chamber music"),
          "classical chamber music", 100, (4, 4), (40, 41, 42, 0), 0.4, (("A", 8), ("B", 8), ("A", 8))),
    Style("chorale", ("chorale", "hymn", "choral", "bach", "hymnal"), "four part chorale harmony", 80, (4, 4),
          (52, 52, 52, 52), 0.3, (("A", 8), ("B", 8)), tonics=(7, 9)),
    Style("folk", ("folk", "irish", "reel", "jig", "hornpipe", "fiddle tune", "scottish", "sea shanty", "shanty",
                   "folk song", "singer-songwriter", "acoustic folk"),
          "traditional irish folk tune on fiddle", 112, (4, 4), (40, 24, 32), 0.6, (("A", 8), ("B", 8)),
          tonics=(2, 4)),
    Style("waltz", ("waltz", "valse"), "elegant waltz in three", 150, (3, 4), (0, 48, 32), 0.4,
          (("A", 8), ("B", 8), ("A", 8)), tonics=(7, 9)),
    Style("march", ("march", "marching", "military"), "military march with brass and snare", 116, (2, 4),
          (56, 57, 58, D), 0.7, (("A", 8), ("B", 8)), tonics=(10, 0)),
    Style("chiptune", ("chiptune", "8-bit", "8 bit", "video game", "retro game", "16-bit", "game music", "nes"),
          "8-bit video game music", 140, (4, 4), (80, 80, 38, D), 0.7, (("intro", 4), ("A", 8), ("B", 8))),
    Style("reggae", ("reggae", "dub", "ska", "rocksteady", "dancehall", "calypso", "soca", "caribbean", "tropical"),
          "laid back reggae with offbeat guitar", 76,
          (4, 4), (27, 16, 33, D), 0.5, (("intro", 4), ("verse", 8), ("chorus", 8)), tonics=(7, 9)),
    Style("country", ("country", "bluegrass", "americana", "honky tonk", "cowboy"),
          "country song with acoustic guitar and banjo", 104, (4, 4), (25, 105, 32, D), 0.5,
          (("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8)), tonics=(7, 4)),
    # Styles people name that the model plays as one of its own.
    Style("bossa nova", ("bossa nova", "bossa", "samba", "brazilian", "mpb"),
          "gentle brazilian bossa nova with nylon guitar", 132, (4, 4), (24, 73, 32, D), 0.4, _AABA, "jazz",
          tonics=(5, 2)),
    Style("latin", ("latin", "salsa", "mambo", "cha cha", "cha-cha", "rumba", "cumbia", "latin jazz"),
          "latin dance band with piano montuno and horns", 110, (4, 4), (0, 56, 32, D), 0.7, _AABA, "jazz"),
    Style("big band", ("big band", "big-band", "swing band", "jump blues"), "swinging big band with brass and saxes",
          160, (4, 4), (56, 57, 65, 0, 32, D), 0.7, _AABA, "jazz", tonics=(10, 0)),
    Style("ragtime", ("ragtime", "rag", "stride piano"), "syncopated ragtime piano", 100, (2, 4), (0,), 0.6,
          (("A", 16), ("B", 16), ("A", 16)), "classical", tonics=(0, 9)),
    Style("tango", ("tango", "milonga"), "dramatic argentine tango with bandoneon", 120, (4, 4), (23, 40, 0, 43), 0.6,
          (("A", 8), ("B", 8), ("A", 8)), "classical", "dark", (4, 4)),
    Style("drum and bass", ("drum and bass", "drum & bass", "drum n bass", "drum 'n' bass", "drum'n'bass", "dnb",
                            "d&b", "jungle", "liquid dnb", "neurofunk"),
          "fast drum and bass with breakbeats and deep sub bass", 174, (4, 4), (89, 81, 38, D), 0.9, _CLUB, "house"),
    Style("dubstep", ("dubstep", "brostep", "riddim"), "heavy dubstep with wobble bass", 140, (4, 4), (39, 81, D),
          0.9, _CLUB, "house", "dark"),
    Style("trance", ("trance", "psytrance", "uplifting trance"), "euphoric trance with supersaw leads", 138,
          (4, 4), (81, 90, 38, D), 0.8, _CLUB, "house"),
    Style("techno", ("techno", "minimal techno", "industrial techno", "acid techno"),
          "driving minimal techno with a hypnotic groove", 130, (4, 4), (81, 90, 38, D), 0.85, _CLUB, "house"),
    Style("trap", ("trap", "trap beat", "phonk"), "trap beat with 808 bass and rolling hi-hats", 140, (4, 4),
          (9, 89, 38, D), 0.7, (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8)), "hip hop"),
    Style("reggaeton", ("reggaeton", "dembow", "moombahton"), "latin reggaeton dembow beat", 95, (4, 4),
          (81, 38, D), 0.75, _POP_FORM, "hip hop"),
    Style("metal", ("metal", "heavy metal", "thrash", "death metal", "black metal", "metalcore", "doom metal",
                    "djent", "nu metal"),
          "heavy metal with distorted guitars and double kick drums", 160, (4, 4), (30, 30, 34, D), 0.95,
          (("intro", 4), ("verse", 8), ("chorus", 8), ("solo", 8), ("chorus", 8)), "rock", "dark", (4, 4)),
    Style("punk", ("punk", "pop punk", "pop-punk", "hardcore punk", "emo"), "fast loud punk rock", 180, (4, 4),
          (30, 34, D), 0.95, (("verse", 8), ("chorus", 8), ("verse", 8), ("chorus", 8)), "rock", tonics=(4, 4)),
    Style("k-pop", ("k-pop", "kpop", "j-pop", "jpop", "city pop", "anime", "idol"),
          "glossy k-pop with synths and punchy drums", 120, (4, 4), (81, 0, 38, D), 0.8,
          (("intro", 4), ("verse", 8), ("pre-chorus", 4), ("chorus", 8), ("verse", 8), ("chorus", 8)), "pop"),
    Style("ballad", ("ballad", "power ballad", "piano ballad", "love song", "torch song"),
          "slow emotional piano ballad with strings", 72, (4, 4), (0, 48, 33, D), 0.35, _POP_FORM, "pop",
          "romantic"),
    Style("soul", ("soul", "soulful", "r&b", "rnb", "r and b", "neo soul", "neo-soul", "motown", "rhythm and blues"),
          "smooth soul and r&b with electric piano", 90, (4, 4), (4, 33, 61, D), 0.5, _POP_FORM, "funk",
          tonics=(5, 9)),
    Style("afrobeat", ("afrobeat", "afrobeats", "afro", "highlife", "amapiano", "afro house"),
          "afrobeat groove with guitars, horns and percussion", 108, (4, 4), (27, 16, 33, 61, D), 0.7,
          (("intro", 4), ("verse", 8), ("chorus", 8), ("verse", 8)), "funk"),
    Style("gospel", ("gospel", "spiritual", "praise", "worship"),
          "uplifting gospel with organ, piano and choir", 76, (4, 4), (16, 0, 52, 33, D), 0.55, _POP_FORM, "chorale",
          "happy", (8, 5)),
    Style("celtic", ("celtic", "gaelic", "highland", "breton"), "celtic tune on fiddle, tin whistle and harp", 110,
          (6, 8), (40, 78, 46, 25), 0.6, (("A", 8), ("A", 8), ("B", 8), ("B", 8)), "folk", tonics=(2, 4)),
    Style("flamenco", ("flamenco", "rumba flamenca"), "passionate spanish flamenco guitar", 120, (3, 4),
          (24, 24, D), 0.7, (("A", 8), ("B", 8)), "folk", "dark", (4, 4)),
    Style("baroque", ("baroque", "fugue", "concerto grosso", "harpsichord music", "partita", "invention"),
          "baroque counterpoint on harpsichord and strings", 100, (4, 4), (6, 40, 42), 0.5,
          (("A", 8), ("A", 8), ("B", 8), ("B", 8)), "classical", tonics=(2, 2)),
    Style("lullaby", ("lullaby", "nursery", "cradle song", "bedtime", "music box"), "soft lullaby on music box",
          72, (3, 4), (10, 46, 48), 0.1, (("A", 8), ("B", 8), ("A", 8)), "waltz", "calm", (5, 9)),
    Style("polka", ("polka", "oompah"), "bouncy polka with accordion and tuba", 120, (2, 4), (21, 71, 58, D), 0.75,
          (("A", 8), ("B", 8)), "march", "happy", (10, 0)),
)
STYLE_BY_NAME = {s.name: s for s in STYLES}
CORPUS_STYLES = ("folk", "chorale", "classical", "waltz", "march")  # styles the training corpus holds

MOODS = {
    "happy": ("happy", "joyful", "cheerful", "upbeat", "uplifting", "sunny", "playful", "bright and happy",
              "euphoric", "fun", "optimistic", "triumphant", "celebratory", "hopeful", "carefree", "positive",
              "feel-good", "feel good", "summery"),
    "sad": ("sad", "melancholic", "melancholy", "sorrowful", "mournful", "lonely", "wistful", "nostalgic", "lament",
            "heartbroken", "heartbreak", "grief", "tragic", "somber", "sombre", "depressing", "depressed",
            "bittersweet", "longing", "rainy", "crying", "tearful", "gloomy", "emotional", "sadness", "regret"),
    "dark": ("dark", "ominous", "menacing", "tense", "eerie", "sinister", "spooky", "haunting", "scary", "creepy",
             "horror", "evil", "brooding", "mysterious", "suspenseful", "gritty and dark", "moody", "angry"),
    "calm": ("calm", "peaceful", "relaxing", "relaxed", "serene", "gentle", "soothing", "mellow", "chill",
             "dreamy", "tranquil", "meditative", "laid back", "laid-back", "cozy", "quiet", "sleepy"),
    "energetic": ("energetic", "driving", "aggressive", "intense", "powerful", "hype", "epic", "exciting", "wild",
                  "heroic", "anthemic", "banging", "hard-hitting", "battle", "fight", "boss fight", "action", "chase"),
    "romantic": ("romantic", "tender", "intimate", "love", "sensual", "passionate", "sweet", "wedding"),
}
MINOR_MOODS = {"sad", "dark"}
MAJOR_MOODS = {"happy"}
MOOD_ENERGY = {"sad": -0.15, "calm": -0.15, "romantic": -0.1, "dark": 0.0, "happy": 0.05, "energetic": 0.15}

# Words that move the energy (notes per beat, loudness) of the style.
ENERGY_WORDS = {"calm": -0.2, "gentle": -0.2, "soft": -0.1, "energetic": 0.25, "driving": 0.2, "intense": 0.25,
                "upbeat": 0.15, "laid back": -0.15, "chill": -0.15, "quiet": -0.15, "loud": 0.15, "heavy": 0.15,
                "sparse": -0.15, "minimal": -0.1, "busy": 0.15, "dense": 0.1, "relaxed": -0.15, "aggressive": 0.2}
# Tempo words: a factor on the style's tempo, or "mid" for a medium tempo (95-120 BPM).
TEMPO_WORDS: dict[str, float | str] = {
    "very slow": 0.65, "extremely slow": 0.6, "super slow": 0.65, "slow": 0.8, "slowly": 0.8, "slow-paced": 0.8,
    "slow tempo": 0.8, "slower": 0.85, "downtempo": 0.8, "leisurely": 0.85, "unhurried": 0.85,
    "medium tempo": "mid", "moderate tempo": "mid", "mid-tempo": "mid", "midtempo": "mid", "mid tempo": "mid",
    "medium-paced": "mid", "medium paced": "mid", "moderato": "mid", "moderate": "mid", "andante": 0.85,
    "adagio": 0.65, "largo": 0.6, "lento": 0.6, "allegro": 1.15, "presto": 1.4, "vivace": 1.25,
    "uptempo": 1.15, "up-tempo": 1.15, "fast": 1.2, "fast-paced": 1.2, "fast tempo": 1.2, "faster": 1.15,
    "quick": 1.15, "brisk": 1.1, "very fast": 1.4, "extremely fast": 1.5, "super fast": 1.4, "frantic": 1.4,
    "rapid": 1.3, "lively": 1.1, "half-time": 0.75, "half time": 0.75, "double-time": 1.3, "double time": 1.3,
}

# The production's texture words (melodex.production.settings.WORD_TABLE; a test keeps the two equal).
TEXTURE_WORDS = (
    "spacious", "space", "reverb", "ambient", "atmospheric", "ethereal", "dreamy", "cathedral", "hall", "lush", "dry",
    "intimate", "close", "warm", "warmth", "analog", "tape", "vintage", "cozy", "mellow", "saturated", "gritty",
    "distorted", "dirty", "bright", "crisp", "shiny", "sparkling", "airy", "dark", "muffled", "murky", "moody",
    "lo-fi", "lofi", "lo fi", "cassette", "vinyl", "dusty", "bitcrushed", "chiptune", "punchy", "punch", "tight",
    "hard", "aggressive", "energetic", "driving", "soft", "gentle", "calm", "wide", "stereo", "huge", "cinematic",
    "narrow", "mono", "clean", "pristine", "polished", "hi-fi",
)
# Texture phrases the renderer plays through one of its words: phrase -> (word, how it sounds).
TEXTURE_PHRASES = {
    "vinyl crackle": ("vinyl", "band-limited and warm with a steady hiss; the renderer adds no crackle"),
    "crackle": ("vinyl", "band-limited and warm with a steady hiss; the renderer adds no crackle"),
    "crackling": ("vinyl", "band-limited and warm with a steady hiss; the renderer adds no crackle"),
    "tape hiss": ("tape", "tape warmth with the lo-fi stage's hiss"),
    "hiss": ("tape", "tape warmth with the lo-fi stage's hiss"),
    "tape saturation": ("tape", "tape warmth and saturation"),
    "bitcrush": ("bitcrushed", "lower bit depth and sample rate"),
    "bit crushed": ("bitcrushed", "lower bit depth and sample rate"),
    "bit-crushed": ("bitcrushed", "lower bit depth and sample rate"),
    "low fidelity": ("lo-fi", "the lo-fi stage"), "lo-fi sound": ("lo-fi", "the lo-fi stage"),
    "reverberant": ("spacious", "a larger reverb send"),
    "echoey": ("spacious", "a larger reverb send"), "roomy": ("spacious", "a larger reverb send"),
    "distortion": ("distorted", "saturation"), "overdriven": ("distorted", "saturation"),
    "compressed": ("punchy", "more compression"), "hifi": ("hi-fi", "a clean master"),
}
# Production words the renderer has no effect for: named in `melodex brief` as not understood.
UNSUPPORTED_EFFECTS = (
    "sidechain", "side-chain", "side chain", "sidechained", "sidechaining", "pumping", "gated reverb", "gated",
    "autotune", "auto-tune", "vocoder", "talkbox", "wah", "wah-wah", "flanger", "flanging", "phaser", "chorus effect",
    "delay", "echo", "ping-pong delay", "stutter", "glitch", "glitchy", "reversed", "reverse reverb", "tremolo",
    "vibrato effect", "filter sweep", "filtered", "low-pass", "lowpass", "high-pass", "highpass", "wobble",
    "granular", "pitch shifted", "pitched down", "pitched up", "slowed and reverb", "slowed + reverb", "chopped",
    "screwed", "ducking", "swell", "risers", "white noise", "noise sweep", "rain sounds", "field recording",
    "nature sounds", "birdsong", "ocean waves", "crowd noise",
)
