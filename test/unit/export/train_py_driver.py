# Drives the exported train.py with Debian's python3 (+ torch) for the unit tests: stubs only transformers'
# TrainerCallback, tokenizes with a character tokenizer identical to test/unit/data/charTokenizer.ts, prints JSON.
import importlib.util
import json
import sys
import types

stub = types.ModuleType("transformers")
stub.TrainerCallback = object
sys.modules["transformers"] = stub


class CharTokenizer:
    """id = code point + 3; 1 = <s> (added with add_special_tokens), 2 = </s>, 0 = <pad>; ChatML template."""
    eos_token_id = 2
    pad_token_id = 0

    def __call__(self, text, add_special_tokens=True):
        ids = [ord(c) + 3 for c in text]
        return {"input_ids": ([1] if add_special_tokens else []) + ids}

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        s = "".join("<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>" + "\n" for m in messages)
        return s + ("<|im_start|>assistant\n" if add_generation_prompt else "")


def load(path):
    spec = importlib.util.spec_from_file_location("train", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    cmd, train_py, arg = sys.argv[1], sys.argv[2], sys.argv[3]
    m = load(train_py)
    if cmd == "data":
        job = json.load(open(arg))
        tok = m.DataTokenizer(CharTokenizer())
        out = []
        for c in job["cases"]:
            d = m.build_dataset(c["file"], c["format"], tok, c["max_length"], c["packing"], c["train_on_prompt"])
            batch = m.Collator(tok.pad_token_id)(d["sequences"][: c["batch"]])
            out.append({"format": d["format"], "sequences": d["sequences"], "truncated": d["truncated"], "dropped": d["dropped"],
                        "batch": {k: v.tolist() for k, v in batch.items()}})
        print(json.dumps(out))
    elif cmd == "callback":
        # A recorded 3-step run with one eval and one checkpoint, on a fixed clock.
        t = [100.0]
        cb = m.PeftStudioMetricsCallback(arg, {"name": "trl-run", "config_file": "peft-train.yaml", "base_model": "Qwen/Qwen2.5-0.5B",
                                               "device": "cuda", "trainable": 1081344, "total": 495114112}, clock=lambda: t[0])
        S = types.SimpleNamespace
        state = S(is_world_process_zero=True, global_step=0, epoch=0.0, max_steps=3, num_input_tokens_seen=0)
        args = S(output_dir=arg)
        opt = S(param_groups=[{"lr": 0.0}])
        cb.on_train_begin(args, state, None)
        lrs = [0.0, 2e-4, 1e-4]
        for k in range(3):
            opt.param_groups[0]["lr"] = lrs[k]
            cb.on_step_begin(args, state, None, optimizer=opt)
            state.global_step, state.epoch, state.num_input_tokens_seen = k + 1, (k + 1) / 3, 512 * (k + 1)
            t[0] += 2.0
            # transformers logs the rate of the next step, after the scheduler stepped
            cb.on_log(args, state, None, logs={"loss": 2.5 - 0.25 * k, "grad_norm": 1.5 - 0.1 * k, "learning_rate": lrs[k + 1] if k < 2 else 0.0})
        cb.on_log(args, state, None, logs={"eval_loss": 2.1, "eval_runtime": 0.5})
        cb.on_save(args, state, None)
        cb.finish(state, arg + "/adapter")
        print(json.dumps({"ok": True}))


main()
