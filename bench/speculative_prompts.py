#!/usr/bin/env python3
"""Input-grounded prompts for the speculative-decoding table of `make bench`.

Speculation from the prompt (n-gram / prompt lookup) pays off when the answer repeats
the prompt: summaries, rewrites, extractions and code edits of a text given in full.
This prints a JSONL of such prompts (or writes it to the path given as the only
argument), one object a line:

    {"id": "summarise-01", "kind": "summarise|rewrite|extract|code", "text": "..."}

"text" is the whole prompt rendered with SmolLM2-135M-Instruct's chat template
(tokenizer.chat_template in models/SmolLM2-135M-Instruct.Q4_1.gguf) for a single user
message with add_generation_prompt: the template inserts its default system message
when the conversation has none. The model's add_bos_token is false, so nothing goes
before <|im_start|>. The special tokens (<|im_start|>, <|im_end|>) are meant to be
tokenized as special tokens, as llama-lookup and Canopy's chat path do.

All passages and code were written for this benchmark. Passages are 80-200 words,
code snippets 10-30 lines; `--check` verifies that and exits non-zero otherwise.
Stdlib only.
"""

import json
import sys

SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def render_chatml(user_content: str) -> str:
    """SmolLM2-135M-Instruct's chat template, one user message, add_generation_prompt."""
    return (
        f"<|im_start|>system\n{SYSTEM}<|im_end|>\n"
        f"<|im_start|>user\n{user_content}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


# (id, kind, instruction, passage). The user message is instruction + "\n\n" + passage.
PROMPTS = [
    # ---------------------------------------------------------------- summarise
    ("summarise-01", "summarise",
     "Summarise the following passage in three sentences.",
     """The town of Harrowby sits where two slow rivers meet, and for most of its history it lived on the barges that carried grain and timber downstream. When the railway arrived in the late nineteenth century, the barge traffic fell away within a decade. The warehouses along the water were left empty, and many families moved to the larger cities in search of work. For almost fifty years the riverfront was a place people avoided after dark. The change came slowly. A group of volunteers began clearing the towpaths on weekends, and the council later turned the oldest warehouse into a market hall. Small cafes followed, then a rowing club and a summer festival. Today the riverfront is the busiest part of Harrowby, and visitors often assume it was always that way."""),
    ("summarise-02", "summarise",
     "Summarise this text for a busy manager in two or three sentences.",
     """Our team migrated the billing service from the old virtual machines to the new container platform over the last six weeks. The migration was done in three stages. First we moved the read-only reporting endpoints, which carry little risk and let us test the deployment pipeline. Second we moved the invoice generation jobs, which run at night and could be retried if anything failed. Finally we moved the payment endpoints, which required a short maintenance window on a Sunday morning. There were two incidents. One was a missing environment variable that delayed the nightly invoices by forty minutes, and the other was a memory limit that was set too low and caused restarts under peak load. Both were fixed the same day. Monthly hosting costs for the service dropped by about thirty percent, and deployments now take four minutes instead of twenty."""),
    ("summarise-03", "summarise",
     "Write a short summary of the passage below.",
     """Honeybees decide where to build a new nest through a process that looks surprisingly like a vote. When a colony becomes too large, the old queen leaves with about half of the workers, and the swarm hangs from a branch while scouts search the surrounding area. Each scout that finds a promising cavity returns and performs a dance on the surface of the swarm. The more she likes the site, the longer and more energetic her dance. Other scouts are recruited to inspect the advertised sites, and they in turn dance for the ones they approve. Over several hours, support for weaker sites fades while support for the best site grows. When enough scouts gather at a single site, they signal the swarm to warm up its flight muscles, and the whole group flies off together to its new home."""),
    ("summarise-04", "summarise",
     "Summarise the key points of this message as a short paragraph.",
     """Hi everyone, a few updates before the holiday break. The office will be closed from the twenty-third until the second of January, and the building will be locked during that time, so please take home anything you need. The heating will be set to a low level, so plants should go home with their owners as well. If you are on call during the break, remember to check that your laptop can reach the internal network from home before you leave. The end-of-year dinner is on the nineteenth at the Italian place near the station; please tell Priya by Friday if you have dietary needs. Finally, the new expense system goes live in January, and the old forms will no longer be accepted after the fifteenth. Thanks for a great year, and enjoy the time off."""),
    ("summarise-05", "summarise",
     "Give a one-paragraph summary of the following article.",
     """Community gardens have grown rapidly in many cities over the past twenty years, and researchers have started to measure what they actually provide. A study of forty gardens in three cities found that the average plot produced vegetables worth about three hundred dollars each season, which mattered most to households with low incomes. The gardens also changed how neighbours interacted. Gardeners reported knowing more people on their street and feeling safer walking at night. However, the study also found problems. Many gardens sit on land that is leased for only a few years, and several had been closed when the owners sold the land to developers. Waiting lists were long, and newer residents often struggled to get a plot. The authors recommend that cities protect garden land through longer leases and publish clear rules for how plots are assigned."""),
    ("summarise-06", "summarise",
     "Summarise this bug report in two sentences.",
     """When a user uploads a profile photo larger than about eight megabytes from the mobile app, the upload appears to finish but the old photo is still shown afterwards. The web version handles the same file correctly. Looking at the server logs, the request reaches the upload handler and is rejected with a size error, but the mobile app ignores the error response and shows a success message. The problem started after the release in March, when the server limit was lowered from twenty megabytes to eight megabytes to reduce storage costs. The mobile app still assumes the old limit and does not resize images before sending them. Users have reported the issue about thirty times this month. A fix should either resize images on the device before upload or show the error message returned by the server."""),

    # ---------------------------------------------------------------- rewrite
    ("rewrite-01", "rewrite",
     "Repeat the following text exactly.",
     """The lighthouse keeper climbed the spiral stairs every evening at six o'clock. He carried a small can of oil, a cloth, and a notebook in which he wrote down the weather. At the top he cleaned the great lens until it shone, checked the wick, and lit the lamp. Then he sat by the window and watched the ships pass far out on the water. Some nights the sea was calm and the ships moved slowly, their lights drifting like stars. Other nights the wind threw rain against the glass, and he stayed awake until morning to make sure the light never failed. In thirty years he missed only one evening, when a storm washed away part of the path from his cottage to the tower."""),
    ("rewrite-02", "rewrite",
     "Fix the grammar and spelling mistakes in the following text. Keep everything else the same.",
     """Yesterday me and my brother goes to the market early in the morning because we wanted to by fresh bread. The baker were already busy and there was a long line of people waiting outside the door. While we waited, a old man started talking to us about the history of the street. He said that his grandfather have owned a shop there, which sold hats and umbrellas for almost forty year. When we finally got inside, the bread we wanted was sold out, so we buyed two loaves of rye and some cinnamon rolls instead. On the way home it begun to rain and we didn't had an umbrella, which was a bit funny after hearing the story about the hat shop. The rolls was still warm when we arrived."""),
    ("rewrite-03", "rewrite",
     "Convert the following paragraph into a list of bullet points, one bullet per step, keeping the wording.",
     """To set up the new printer, first unpack it and remove all of the orange tape from the outside and inside of the machine. Next, connect the power cable and press the power button on the front panel. Open the front cover and insert the four ink cartridges into the slots that match their colours, pressing each one until it clicks. Close the cover and wait while the printer prepares the ink, which takes about five minutes. Then load plain paper into the bottom tray and slide the guides against the edges of the stack. On the touch screen, choose your language and select the wireless network you want to use. Finally, install the printer app on your computer and print a test page to confirm that everything works."""),
    ("rewrite-04", "rewrite",
     "Rewrite the following email in a more formal tone without changing its content.",
     """Hey Sam, just wanted to let you know that the delivery for the Thompson order is going to be late. The supplier told us this morning that their truck broke down and the parts won't get to us until Thursday. That means we can't finish the assembly until Friday at the earliest, and the customer probably won't get anything before Monday. I know they wanted it this week, so can you give them a call and explain what happened? If they're really upset, we could offer them free shipping or a small discount on their next order. Also, could you check if we have enough of the blue panels in stock for the next batch? I think we're running low. Thanks a lot, talk soon, Maria."""),
    ("rewrite-05", "rewrite",
     "Rewrite the following text in the past tense.",
     """Every morning the ferry leaves the harbour at seven and crosses the bay to the island. The captain checks the engines while the crew loads crates of fruit, newspapers and letters onto the deck. Passengers buy coffee from a small counter near the stairs and find seats by the windows. Children run to the railing to look for dolphins, which sometimes follow the boat for a few minutes. Halfway across, the ferry passes an old stone fort that guards the entrance to the bay. When it arrives at the island, a crowd waits at the pier. Shop owners collect their crates, the postman takes the letters, and tourists walk up the hill toward the village. At noon the ferry turns around and goes back to the mainland."""),
    ("rewrite-06", "rewrite",
     "Rewrite the following text, replacing the name \"Ellen\" with \"Nadia\" everywhere. Change nothing else.",
     """Ellen had worked at the observatory for nine years when the new telescope arrived. She was the first person to test it, staying up through a cold night in February to measure how steady the images were. Her colleagues joked that Ellen knew the old telescope so well that she could hear when a motor was about to fail. The new instrument was quieter and far more precise, and Ellen spent the spring writing the manual that the students would use. In June she presented the first results at a conference, showing images of a distant galaxy that no one at the observatory had been able to photograph before. After the talk, several researchers asked Ellen whether they could book time on the telescope for their own projects."""),

    # ---------------------------------------------------------------- extract
    ("extract-01", "extract",
     "From the text below, extract the name, email address, phone number and city of the sender. Answer with one field per line.",
     """Good afternoon, my name is Tomas Varga and I am writing about the apartment listed on your website last week. I am moving to Linden Falls for a new job at the regional hospital and would like to rent something close to the city centre from the first of September. I am a quiet non-smoker with no pets, and I can provide references from my current landlord and my employer. The two-bedroom unit on Maple Street looks ideal, and I would be happy to visit it on any weekday after five in the evening. Please contact me by email at tomas.varga@example.org or by phone at 555-0142 if the apartment is still available. I currently live in Brookmere, so a visit on Saturday would also be possible if that is easier for you. Thank you for your time."""),
    ("extract-02", "extract",
     "List every sentence from the following text that contains a date, copying each sentence exactly.",
     """The library renovation project began with a public meeting on March 4, when residents were invited to share their ideas. Many asked for longer opening hours and a quiet room for studying. The architects presented three designs in the following months, and the council chose the second one. Construction started on June 12 after the books had been moved to a temporary building near the school. Work went smoothly over the summer, although a shortage of roofing materials caused a delay of two weeks. The children's section was completed first, and it opened to the public on October 1 with a reading event. The rest of the building followed, and the official reopening took place on November 20. Visitor numbers in the first month were almost double those of the previous year."""),
    ("extract-03", "extract",
     "Extract all error lines from the following log and copy them exactly, in order.",
     """2024-05-02 10:14:01 INFO server started on port 8080
2024-05-02 10:14:02 INFO connected to database orders_primary
2024-05-02 10:15:17 WARN slow query took 1840 ms on table customers
2024-05-02 10:16:03 ERROR failed to send confirmation email to order 55120: connection refused
2024-05-02 10:16:04 INFO retrying email delivery in 30 seconds
2024-05-02 10:16:34 INFO email delivered for order 55120
2024-05-02 10:21:45 ERROR payment gateway timeout for order 55131 after 10000 ms
2024-05-02 10:22:10 INFO cache refreshed with 4210 products
2024-05-02 10:30:00 INFO scheduled report generated: daily_sales.csv
2024-05-02 10:31:12 ERROR disk usage on /var/data above 90 percent
2024-05-02 10:31:13 WARN cleanup job started to remove temporary files
2024-05-02 10:33:40 INFO cleanup job finished, 2.3 GB freed
2024-05-02 10:40:05 ERROR user session store unavailable, falling back to memory
2024-05-02 10:41:00 INFO health check passed"""),
    ("extract-04", "extract",
     "From the recipe below, extract the list of ingredients with their quantities, one per line.",
     """This lentil soup is a simple weeknight dinner that keeps well for several days. Start by warming two tablespoons of olive oil in a large pot over medium heat. Add one chopped onion, two diced carrots and two sliced celery sticks, and cook them gently for about eight minutes until they soften. Stir in three cloves of crushed garlic, one teaspoon of ground cumin and half a teaspoon of smoked paprika, and cook for one more minute. Add one cup of rinsed red lentils, one can of chopped tomatoes and four cups of vegetable stock. Bring the soup to a boil, then lower the heat and let it simmer for twenty five minutes, stirring now and then. Finish with the juice of half a lemon, a pinch of salt and a handful of chopped parsley before serving."""),
    ("extract-05", "extract",
     "Read the product description below and return a JSON object with the fields name, price, weight, battery_life and colours, using the values from the text.",
     """The Trailmate X2 is a compact GPS handheld designed for hikers who want reliable navigation without carrying a phone. It costs 189 dollars and weighs 210 grams with the batteries installed, so it fits easily in a jacket pocket. The screen is readable in direct sunlight, and the buttons are large enough to press while wearing gloves. Battery life is 36 hours of continuous tracking, and the device accepts both rechargeable packs and standard AA batteries, which is useful on long trips far from a power outlet. Maps for the whole continent come preinstalled, and new routes can be loaded from a computer over USB. The Trailmate X2 is available in three colours: forest green, slate grey and signal orange. Every unit comes with a two-year warranty and a carrying strap."""),
    ("extract-06", "extract",
     "Quote every sentence in the following text that mentions the word \"water\", exactly as written.",
     """The village sits on a dry plateau, and for generations its families carried water from a spring at the bottom of the valley. The walk took almost an hour each way, and the task usually fell to children and older women. In the 1990s a cooperative was formed to find a better solution. Engineers surveyed the area and found that the old spring could supply enough water for every home if it were pumped uphill. The cooperative raised money by selling honey and woven baskets at markets in the nearby town. A solar-powered pump was installed in 2004, and a storage tank was built beside the school. Today most houses have a tap in the yard, and the water is tested twice a year. The path to the spring is now used mainly by hikers."""),

    # ---------------------------------------------------------------- code
    ("code-01", "code",
     "Rename the variable `lst` to `prices` everywhere in this Python function and show the full updated code.",
     """```python
def summarize_prices(lst, currency="EUR"):
    if not lst:
        return {"count": 0, "currency": currency}
    total = 0.0
    highest = lst[0]
    lowest = lst[0]
    for value in lst:
        total += value
        if value > highest:
            highest = value
        if value < lowest:
            lowest = value
    average = total / len(lst)
    return {
        "count": len(lst),
        "total": round(total, 2),
        "average": round(average, 2),
        "highest": highest,
        "lowest": lowest,
        "currency": currency,
    }
```"""),
    ("code-02", "code",
     "Add a short comment above each function in the following JavaScript code explaining what it does. Show the complete code.",
     """```javascript
function parseQuery(queryString) {
  const result = {};
  const pairs = queryString.replace(/^\\?/, "").split("&");
  for (const pair of pairs) {
    if (!pair) continue;
    const [key, value] = pair.split("=");
    result[decodeURIComponent(key)] = decodeURIComponent(value || "");
  }
  return result;
}

function buildQuery(params) {
  const parts = [];
  for (const key of Object.keys(params)) {
    const value = params[key];
    if (value === undefined || value === null) continue;
    parts.push(encodeURIComponent(key) + "=" + encodeURIComponent(value));
  }
  return parts.length ? "?" + parts.join("&") : "";
}

function mergeQuery(queryString, updates) {
  const current = parseQuery(queryString);
  return buildQuery(Object.assign(current, updates));
}
```"""),
    ("code-03", "code",
     "Convert the for loop in this Python code into a list comprehension and show the whole updated file.",
     """```python
import csv


def load_active_users(path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    active = []
    for row in rows:
        if row["status"] == "active":
            active.append(row["email"].strip().lower())
    return active


def main():
    users = load_active_users("users.csv")
    print(f"{len(users)} active users")
    for email in sorted(users):
        print(email)


if __name__ == "__main__":
    main()
```"""),
    ("code-04", "code",
     "Rename the function `calc` to `compute_checksum` in this C code, including its call site, and show the full code.",
     """```c
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static uint16_t calc(const uint8_t *data, size_t length) {
    uint32_t sum_a = 1;
    uint32_t sum_b = 0;
    for (size_t i = 0; i < length; i++) {
        sum_a = (sum_a + data[i]) % 251;
        sum_b = (sum_b + sum_a) % 251;
    }
    return (uint16_t)((sum_b << 8) | sum_a);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s TEXT\\n", argv[0]);
        return 1;
    }
    const char *text = argv[1];
    uint16_t value = calc((const uint8_t *)text, strlen(text));
    printf("checksum of '%s' is %04x\\n", text, value);
    return 0;
}
```"""),
    ("code-05", "code",
     "Add error handling to this Go function so that it returns an error instead of panicking when the file cannot be opened. Show the complete function.",
     """```go
func countWords(path string) map[string]int {
	file, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer file.Close()

	counts := make(map[string]int)
	scanner := bufio.NewScanner(file)
	scanner.Split(bufio.ScanWords)
	for scanner.Scan() {
		word := strings.ToLower(scanner.Text())
		word = strings.Trim(word, ".,;:!?\\"'()")
		if word == "" {
			continue
		}
		counts[word]++
	}
	return counts
}
```"""),
    ("code-06", "code",
     "Change this Swift struct so that the property `title` is renamed to `name` everywhere, and show the full code.",
     """```swift
struct Task {
    var title: String
    var priority: Int
    var isDone: Bool = false

    func describe() -> String {
        let mark = isDone ? "[x]" : "[ ]"
        return "\\(mark) \\(title) (priority \\(priority))"
    }
}

func sortTasks(_ tasks: [Task]) -> [Task] {
    return tasks.sorted { lhs, rhs in
        if lhs.priority != rhs.priority {
            return lhs.priority > rhs.priority
        }
        return lhs.title < rhs.title
    }
}

let tasks = [
    Task(title: "Write report", priority: 2),
    Task(title: "Call supplier", priority: 3),
    Task(title: "Book room", priority: 1, isDone: true),
]
for task in sortTasks(tasks) {
    print(task.describe())
}
```"""),
]


def rows():
    for pid, kind, instruction, passage in PROMPTS:
        content = f"{instruction}\n\n{passage}"
        yield {"id": pid, "kind": kind, "text": render_chatml(content)}


def check() -> list:
    """Problems with the prompt set (empty when it is as documented)."""
    problems = []
    ids = [p[0] for p in PROMPTS]
    if len(set(ids)) != len(ids):
        problems.append("duplicate ids")
    kinds = {}
    for pid, kind, _, passage in PROMPTS:
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind == "code":
            lines = passage.strip().split("\n")
            code_lines = [l for l in lines if not l.startswith("```")]
            if not 10 <= len(code_lines) <= 30:
                problems.append(f"{pid}: {len(code_lines)} code lines, want 10-30")
        elif kind == "extract" and passage.count("\n") >= 9:
            # A log: judge by lines, like code.
            n = passage.count("\n") + 1
            if not 10 <= n <= 30:
                problems.append(f"{pid}: {n} log lines, want 10-30")
        else:
            words = len(passage.split())
            if not 80 <= words <= 200:
                problems.append(f"{pid}: {words} words, want 80-200")
    if len(PROMPTS) < 24:
        problems.append(f"only {len(PROMPTS)} prompts, want at least 24")
    for kind in ("summarise", "rewrite", "extract", "code"):
        if kinds.get(kind, 0) < 6:
            problems.append(f"only {kinds.get(kind, 0)} {kind} prompts, want 6")
    return problems


def main(argv):
    if argv[1:2] == ["--check"]:
        problems = check()
        for p in problems:
            print(p, file=sys.stderr)
        print(f"{len(PROMPTS)} prompts, {len(problems)} problems")
        return 1 if problems else 0
    if len(argv) > 2:
        print("usage: speculative_prompts.py [OUT.jsonl | --check]", file=sys.stderr)
        return 2
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows())
    if len(argv) == 2:
        with open(argv[1], "w", encoding="utf-8") as f:
            f.write(lines)
    else:
        sys.stdout.write(lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
