"""Build the tiny ONNX Runtime GenAI model the generative tests run: a random-weight Llama (hidden 64, 2 layers,
4 heads, 2 KV heads, a 512-token byte-level BPE vocabulary trained on edgeprof's shipped texts, a chat template),
saved as a Hugging Face folder, then exported by onnxruntime-genai's own model builder to an fp32 GenAI folder
(`python -m onnxruntime_genai.models.builder -p fp32 -e cpu`), and to the builder's own int4 folder (`-p int4`),
which the tests hold `edgeprof quantize --variants int4` to. Nothing is fetched from a model hub
(HF_HUB_OFFLINE=1): the weights are random, so the model's answers and perplexity mean nothing; only its
timings, memory and the flow through edgeprof are real.

Needs torch, transformers (with tokenizers) and onnxruntime-genai; run with the repository on PYTHONPATH:
    python scripts/build_tiny_genai.py OUT_DIR      # writes OUT_DIR/tiny-llama-fp32/, OUT_DIR/builder/tiny-llama-int4/
scripts/setup_generative.sh runs it once per recipe (this file, the shipped texts and the builder's version) and
keeps the result in the cache."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: a hub lookup fails instead of downloading
os.environ["TRANSFORMERS_OFFLINE"] = "1"

CHAT_TEMPLATE = ("{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")
NAME = "tiny-llama-fp32"


def hugging_face_folder(out: Path) -> None:
    """The tokenizer (trained here) and the random-weight Llama (seeded), as save_pretrained writes them."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from edgeprof.agent.generation_texts import PERPLEXITY_TEXT, PROMPTS

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([*PROMPTS, PERPLEXITY_TEXT], trainer)
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                            pad_token="<unk>", chat_template=CHAT_TEMPLATE).save_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                         tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(out)


def main() -> int:
    out = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as work:
        hf = Path(work, "hf")
        hugging_face_folder(hf)
        for precision, target in (("fp32", out / NAME), ("int4", out / "builder" / "tiny-llama-int4")):
            done = subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(hf),
                                   "-o", str(target), "-p", precision, "-e", "cpu", "-c", str(Path(work, "cache"))],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stdout[-2000:], done.stderr[-4000:], sep="\n", file=sys.stderr)
                return done.returncode
            print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
