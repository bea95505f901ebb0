// llama-reference: llama.cpp's greedy tokens, per-step top-5 logits and first-step logits
// for a list of prompts, written as the reference fixtures Canopy's tests compare against
// (Tests/Fixtures/<model>/). Built and run by scripts/make-llama-reference.sh against the
// llama.cpp that scripts/build-llama-cpp.sh builds (the copy vendored in the PyPI sdist
// llama-cpp-python==0.3.36), using only its public C API (llama.h).
//
// Usage: llama-reference MODEL PROMPTS.jsonl OUT_DIR [--n-predict 32] [--threads 2]
//                        [--logits-prompts 4] [--verbose]
//
// PROMPTS.jsonl: one object per line, {"prompt": "..."} (other string, number, bool or null
// fields are ignored). Each prompt is raw text, tokenized with add_special = true and
// parse_special = true (as llama-cli / llama-server do: BOS added when the model asks for it,
// special-token text such as <start_of_turn> read as the special token).
//
// Writes:
//   OUT_DIR/greedy.jsonl: one line per prompt, in order:
//     {"prompt", "prompt_ids", "n_predict", "greedy_ids", "top5_per_step"}
//     tokens: the greedy continuation (argmax over the logits, lowest id on a tie), stopping
//             after an end-of-generation token (which is included) or after n-predict tokens;
//     top5[i]: the five highest [token_id, logit] (descending, lowest id first on a tie) of
//             the logits tokens[i] was chosen from;
//     first_top5: the same for the logits after the last prompt token (equal to top5[0]).
//     Logits are written in the shortest form that reads back as the same float32.
//   OUT_DIR/logits-<i>.f16 for the first --logits-prompts prompts (i = 0-based line number):
//     the full logits after the last prompt token, n_vocab little-endian IEEE half floats
//     (round to nearest even).
//
// Context: n_ctx = the longest prompt + n-predict, n_batch = n_ubatch = the longest prompt
// (at least 512), so each prompt is decoded as one ubatch; n_threads = n_threads_batch =
// --threads; every other setting is llama_context_default_params() (flash attention auto,
// f16 KV cache, full-size SWA cache). The KV cache is cleared between prompts.

#include "llama.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

namespace {

[[noreturn]] void die(const std::string & message) {
    std::fprintf(stderr, "llama-reference: %s\n", message.c_str());
    std::exit(1);
}

// ---- minimal JSON reading: one flat object per line, only string values are kept ----

struct JsonLineReader {
    const std::string & s;
    size_t i = 0;

    explicit JsonLineReader(const std::string & text) : s(text) {}

    [[noreturn]] void fail(const std::string & what) const {
        throw std::runtime_error(what + " at column " + std::to_string(i + 1));
    }

    void skip_ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) i++;
    }

    void expect(char c) {
        skip_ws();
        if (i >= s.size() || s[i] != c) fail(std::string("expected '") + c + "'");
        i++;
    }

    unsigned hex4() {
        if (i + 4 > s.size()) fail("truncated \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; k++) {
            char c = s[i++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= unsigned(c - '0');
            else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
            else fail("bad hex digit in \\u escape");
        }
        return v;
    }

    static void put_utf8(std::string & out, unsigned cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6));
            out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18));
            out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F));
            out += char(0x80 | (cp & 0x3F));
        }
    }

    std::string string_value() {
        expect('"');
        std::string out;
        while (true) {
            if (i >= s.size()) fail("unterminated string");
            char c = s[i++];
            if (c == '"') break;
            if (static_cast<unsigned char>(c) < 0x20) fail("raw control character in string");
            if (c != '\\') { out += c; continue; }
            if (i >= s.size()) fail("unterminated escape");
            char e = s[i++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') fail("lone high surrogate");
                        i += 2;
                        unsigned lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate not followed by a low one");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        fail("lone low surrogate");
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: fail(std::string("unknown escape \\") + e);
            }
        }
        return out;
    }

    // numbers, true, false, null: skipped (nested arrays and objects are not supported)
    void skip_scalar() {
        skip_ws();
        size_t start = i;
        while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\t') i++;
        std::string tok = s.substr(start, i - start);
        if (tok.empty()) fail("missing value");
        if (tok[0] == '[' || tok[0] == '{') fail("arrays and objects are not supported");
        if (tok != "true" && tok != "false" && tok != "null" && !(tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9')))
            fail("bad value '" + tok + "'");
    }

    // returns the value of `key`; throws when it is missing
    std::string field(const std::string & key) {
        bool found = false;
        std::string value;
        expect('{');
        skip_ws();
        if (i < s.size() && s[i] == '}') { i++; }
        else {
            while (true) {
                std::string k = string_value();
                expect(':');
                skip_ws();
                if (i < s.size() && s[i] == '"') {
                    std::string v = string_value();
                    if (k == key) { value = std::move(v); found = true; }
                } else {
                    if (k == key) fail("\"" + key + "\" is not a string");
                    skip_scalar();
                }
                skip_ws();
                if (i < s.size() && s[i] == ',') { i++; continue; }
                expect('}');
                break;
            }
        }
        skip_ws();
        if (i != s.size()) fail("trailing characters after the object");
        if (!found) throw std::runtime_error("no \"" + key + "\" field");
        return value;
    }
};

// ---- JSON writing ----

void put_json_string(std::string & out, const std::string & v) {
    out += '"';
    for (unsigned char c : v) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20 || c == 0x7F) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += char(c);  // UTF-8 bytes pass through unchanged
                }
        }
    }
    out += '"';
}

void put_float(std::string & out, float v) {
    if (!std::isfinite(v)) die("non-finite logit in the output");
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    out.append(buf, res.ptr);
}

void put_ids(std::string & out, const std::vector<llama_token> & ids) {
    out += '[';
    for (size_t k = 0; k < ids.size(); k++) {
        if (k) out += ", ";
        out += std::to_string(ids[k]);
    }
    out += ']';
}

using Top = std::vector<std::pair<llama_token, float>>;

void put_top(std::string & out, const Top & top) {
    out += '[';
    for (size_t k = 0; k < top.size(); k++) {
        if (k) out += ", ";
        out += '[';
        out += std::to_string(top[k].first);
        out += ", ";
        put_float(out, top[k].second);
        out += ']';
    }
    out += ']';
}

// ---- logits ----

Top top_k(const float * logits, int n_vocab, int k) {
    std::vector<llama_token> idx(n_vocab);
    for (int t = 0; t < n_vocab; t++) idx[t] = t;
    k = std::min(k, n_vocab);
    auto better = [&](llama_token a, llama_token b) {
        return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
    };
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
    Top top;
    for (int r = 0; r < k; r++) top.emplace_back(idx[r], logits[idx[r]]);
    return top;
}

uint16_t f32_to_f16(float f) {  // IEEE 754 binary16, round to nearest even
    uint32_t x;
    std::memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xFFu;
    uint32_t mant = x & 0x7FFFFFu;
    if (exp == 0xFF) return uint16_t(sign | 0x7C00u | (mant ? 0x200u : 0u));  // inf / nan
    int32_t e = int32_t(exp) - 127 + 15;
    if (e >= 0x1F) return uint16_t(sign | 0x7C00u);  // overflow -> inf
    if (e <= 0) {  // subnormal half (or zero)
        if (e < -10) return uint16_t(sign);
        mant |= 0x800000u;
        uint32_t shift = uint32_t(14 - e);
        uint32_t half = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1u);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1u))) half++;
        return uint16_t(sign | half);
    }
    uint32_t half = (uint32_t(e) << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1FFFu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) half++;  // may carry into the exponent: correct
    return uint16_t(sign | half);
}

void write_f16(const std::string & path, const float * logits, int n) {
    std::vector<unsigned char> bytes(size_t(n) * 2);
    for (int k = 0; k < n; k++) {
        uint16_t h = f32_to_f16(logits[k]);
        bytes[2 * size_t(k)] = static_cast<unsigned char>(h & 0xFF);
        bytes[2 * size_t(k) + 1] = static_cast<unsigned char>(h >> 8);
    }
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) die("cannot write " + path);
    f.write(reinterpret_cast<const char *>(bytes.data()), std::streamsize(bytes.size()));
    if (!f) die("write failed: " + path);
}

// ---- logging: warnings and errors only, unless --verbose ----

bool g_verbose = false;
ggml_log_level g_last_level = GGML_LOG_LEVEL_INFO;

void log_filter(ggml_log_level level, const char * text, void *) {
    if (level != GGML_LOG_LEVEL_CONT) g_last_level = level;
    if (g_verbose || g_last_level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

int parse_int(const char * name, const char * v, int min) {
    char * end = nullptr;
    errno = 0;
    long x = std::strtol(v, &end, 10);
    if (errno || end == v || *end || x < min || x > 1000000) die(std::string(name) + " wants an integer >= " + std::to_string(min) + ", got '" + v + "'");
    return int(x);
}

void usage() {
    std::fprintf(stderr,
        "usage: llama-reference MODEL PROMPTS.jsonl OUT_DIR [--n-predict 32] [--threads 2] [--logits-prompts 4] [--verbose]\n");
    std::exit(2);
}

}  // namespace

int main(int argc, char ** argv) {
    std::vector<std::string> pos;
    int n_predict = 32, n_threads = 2, n_logits_prompts = 4;
    for (int a = 1; a < argc; a++) {
        std::string arg = argv[a];
        auto value = [&]() -> const char * {
            if (a + 1 >= argc) die(arg + " needs a value");
            return argv[++a];
        };
        if (arg == "--n-predict") n_predict = parse_int("--n-predict", value(), 1);
        else if (arg == "--threads") n_threads = parse_int("--threads", value(), 1);
        else if (arg == "--logits-prompts") n_logits_prompts = parse_int("--logits-prompts", value(), 0);
        else if (arg == "--verbose") g_verbose = true;
        else if (arg == "-h" || arg == "--help") usage();
        else if (arg.size() > 1 && arg[0] == '-') die("unknown option " + arg);
        else pos.push_back(arg);
    }
    if (pos.size() != 3) usage();
    const std::string model_path = pos[0], prompts_path = pos[1], out_dir = pos[2];

    // prompts
    std::vector<std::string> prompts;
    {
        std::ifstream in(prompts_path);
        if (!in) die("cannot read " + prompts_path);
        std::string line;
        int lineno = 0;
        while (std::getline(in, line)) {
            lineno++;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
            try {
                JsonLineReader r(line);
                prompts.push_back(r.field("prompt"));
            } catch (const std::exception & e) {
                die(prompts_path + ":" + std::to_string(lineno) + ": " + e.what());
            }
        }
        if (prompts.empty()) die(prompts_path + " has no prompts");
    }

    struct stat st;
    if (stat(out_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) die("output directory " + out_dir + " does not exist");

    llama_log_set(log_filter, nullptr);
    llama_backend_init();

    llama_model_params mparams = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(model_path.c_str(), mparams);
    if (!model) die("cannot load model " + model_path);
    const llama_vocab * vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    // tokenize everything first, to size the context
    std::vector<std::vector<llama_token>> prompt_ids;
    size_t longest = 0;
    for (size_t p = 0; p < prompts.size(); p++) {
        const std::string & text = prompts[p];
        int32_t n = llama_tokenize(vocab, text.data(), int32_t(text.size()), nullptr, 0, true, true);
        if (n == INT32_MIN) die("prompt " + std::to_string(p) + " is too long to tokenize");
        std::vector<llama_token> ids(size_t(n < 0 ? -n : n));
        n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()), true, true);
        if (n < 0) die("tokenization of prompt " + std::to_string(p) + " failed");
        ids.resize(size_t(n));
        if (ids.empty()) die("prompt " + std::to_string(p) + " has no tokens");
        longest = std::max(longest, ids.size());
        prompt_ids.push_back(std::move(ids));
    }

    llama_context_params cparams = llama_context_default_params();
    cparams.n_ctx = uint32_t(longest + size_t(n_predict));
    cparams.n_batch = uint32_t(std::max<size_t>(longest, 512));
    cparams.n_ubatch = cparams.n_batch;
    cparams.n_threads = n_threads;
    cparams.n_threads_batch = n_threads;
    llama_context * ctx = llama_init_from_model(model, cparams);
    if (!ctx) die("cannot create a context (n_ctx " + std::to_string(cparams.n_ctx) + ")");
    if (llama_n_ctx(ctx) < cparams.n_ctx) die("context is smaller than asked for");
    if (llama_n_ubatch(ctx) < longest) die("n_ubatch is shorter than the longest prompt");
    std::fprintf(stderr, "llama-reference: %zu prompts (longest %zu tokens), n_vocab %d, n_ctx %u, n_batch %u, n_ubatch %u, %d threads, n_predict %d\n",
                 prompts.size(), longest, n_vocab, llama_n_ctx(ctx), llama_n_batch(ctx), llama_n_ubatch(ctx), n_threads, n_predict);

    const std::string greedy_path = out_dir + "/greedy.jsonl";
    std::FILE * out = std::fopen(greedy_path.c_str(), "wb");
    if (!out) die("cannot write " + greedy_path);

    llama_batch batch = llama_batch_init(int32_t(longest), 0, 1);
    for (size_t p = 0; p < prompts.size(); p++) {
        const std::vector<llama_token> & ids = prompt_ids[p];
        llama_memory_clear(llama_get_memory(ctx), true);

        batch.n_tokens = int32_t(ids.size());
        for (size_t k = 0; k < ids.size(); k++) {
            batch.token[k] = ids[k];
            batch.pos[k] = llama_pos(k);
            batch.n_seq_id[k] = 1;
            batch.seq_id[k][0] = 0;
            batch.logits[k] = k + 1 == ids.size();
        }
        if (int rc = llama_decode(ctx, batch); rc != 0) die("llama_decode failed on prompt " + std::to_string(p) + " (" + std::to_string(rc) + ")");

        std::vector<llama_token> tokens;
        std::vector<Top> tops;
        llama_pos next_pos = llama_pos(ids.size());
        while (true) {
            const float * logits = llama_get_logits_ith(ctx, -1);
            if (!logits) die("no logits for prompt " + std::to_string(p));
            if (tokens.empty() && int(p) < n_logits_prompts)
                write_f16(out_dir + "/logits-" + std::to_string(p) + ".f16", logits, n_vocab);
            Top top = top_k(logits, n_vocab, 5);
            llama_token next = top[0].first;
            tops.push_back(top);
            tokens.push_back(next);
            if (llama_vocab_is_eog(vocab, next) || int(tokens.size()) >= n_predict) break;

            batch.n_tokens = 1;
            batch.token[0] = next;
            batch.pos[0] = next_pos++;
            batch.n_seq_id[0] = 1;
            batch.seq_id[0][0] = 0;
            batch.logits[0] = 1;
            if (int rc = llama_decode(ctx, batch); rc != 0) die("llama_decode failed while generating for prompt " + std::to_string(p) + " (" + std::to_string(rc) + ")");
        }

        std::string line = "{\"prompt\": ";
        put_json_string(line, prompts[p]);
        line += ", \"prompt_ids\": ";
        put_ids(line, ids);
        line += ", \"n_predict\": " + std::to_string(n_predict);
        line += ", \"greedy_ids\": ";
        put_ids(line, tokens);
        line += ", \"top5_per_step\": [";
        for (size_t s = 0; s < tops.size(); s++) {
            if (s) line += ", ";
            put_top(line, tops[s]);
        }
        line += "]}\n";
        if (std::fwrite(line.data(), 1, line.size(), out) != line.size()) die("write failed: " + greedy_path);
        std::fprintf(stderr, "llama-reference: prompt %zu: %zu prompt tokens, %zu generated%s\n", p, ids.size(), tokens.size(),
                     llama_vocab_is_eog(vocab, tokens.back()) ? " (stopped at end of generation)" : "");
    }
    if (std::fclose(out) != 0) die("write failed: " + greedy_path);

    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}
