// Natural English prose for generation requests (written for this bench):
// varied sentences, punctuation and numbers, as a user would paste them.
const PROSE = `The ferry to the island leaves at a quarter past seven, and on most mornings it carries more bread than people. Crates from the bakery on Harbour Street are stacked beside the rail, still warm, and the gulls follow the boat halfway across the bay before they give up and turn back. By the time the engine slows, the captain has finished his coffee and the deckhand has told the same joke to three different passengers.

Nobody on the island remembers exactly when the lighthouse stopped being necessary. The lamp was automated in the seventies, the keeper's cottage became a small museum, and the museum now opens only on weekends between May and September. Still, people walk up the hill every evening to watch the beam start turning. Children count the seconds between flashes; their parents pretend not to.

Margaret runs the museum. She is seventy-three, walks faster than most of the visitors, and keeps a notebook in which she records every question she cannot answer. Some of them are easy to look up later: how tall the tower is, how far the light can be seen on a clear night, what the fog signal sounded like. Others stay in the notebook for years. Why did the last keeper plant a row of apple trees on the windiest side of the island? Who carved the initials into the third step? What happened to the brass telescope that appears in every photograph taken before 1952?

In the winter the island empties out. The café closes, the ferry runs twice a day instead of six times, and the wind takes over the conversation. Margaret uses those months to write. She is not writing a history, she says, because histories pretend to be finished. She is writing a list of small, true things: the price of a loaf in 1961, the name of the dog who rode the mail boat, the week the harbour froze and the schoolchildren walked across it to the mainland and back, holding hands in a long nervous line.

Her nephew, who works with computers in the city, once offered to put the notebook online. She thought about it for a day and then said yes, on one condition: every page had to be read aloud. She did not want the island turned into a spreadsheet. So now, on a quiet website that very few people visit, you can press a button and hear her voice explain, slowly and with some amusement, that the telescope was probably sold to pay for a new roof, and that the roof leaked anyway.

The recordings were made in the kitchen, which is why you can sometimes hear the kettle. Her nephew wanted to remove the noise, but she refused. A kettle, she argued, is part of the evidence. It proves that somebody was there, on an ordinary afternoon, taking the time to remember. Listeners have written to say that the kettle is their favourite part.

There is a practical side to all of this. The island has no doctor on weekdays, the shop closes at four, and the weather decides whether anyone can leave. People plan carefully. They keep spare batteries, a second radio and a list of neighbours who own a boat. In a storm, the old habits come back: someone checks on the Petersons, someone else brings soup to the house at the end of the lane, and the light on the hill keeps turning whether or not anyone needs it.

Visitors often ask whether it gets lonely. Margaret answers honestly. Yes, sometimes, particularly in February, when the days are short and the ferry is cancelled twice in one week. But loneliness, she says, is not the same as being alone. On the mainland she was surrounded by people and knew almost none of them. Here she knows the name of every child, the age of every boat and the temper of every dog, and they know hers.

Last spring a group of students came to record the sounds of the island for a university project. They set microphones in the harbour, on the cliffs and inside the lighthouse, and they left them running for a whole week. When they played the recordings back, the loudest sound was not the sea or the wind. It was the birds at dawn, thousands of them, arguing over the same few metres of rock. The quietest was the inside of the tower at midnight, where the only noise was the soft mechanical click of the lamp as it turned.

Margaret asked for a copy. She listens to it when she cannot sleep, which is more often than she admits. It reminds her, she says, that the island is busy even when nobody is watching, and that most of what matters happens without an audience. The bread still crosses the bay. The apple trees still bend in the wind. The notebook still fills up, one question at a time.

The ferry crew have their own version of the story. According to them, the island runs on three things: the timetable, the tide tables and gossip, in roughly that order. They claim to hear about every engagement first.

If you visit, take the early ferry. Buy a loaf at the harbour before the crates are unloaded, because by nine o'clock it is gone. Walk up the hill slowly, read the initials on the third step, and knock on the museum door even if the sign says closed. She might be in the kitchen. The kettle might be on. And if you have a question she cannot answer, she will write it down, thank you for it, and promise to find out, which is exactly what she will do.`;

/** About `chars` characters of the prose, cut at the end of a sentence (never more than `chars`). */
export function prose(chars) {
  const text = PROSE.replace(/\r/g, "");
  if (text.length <= chars) return text;
  const head = text.slice(0, chars);
  const cut = Math.max(head.lastIndexOf(". "), head.lastIndexOf("? "), head.lastIndexOf("! "), head.lastIndexOf(".\n"));
  return head.slice(0, cut + 1);
}

export const PROSE_CHARS = PROSE.length;
