// The layout checks of tests/browser/test_console_layout.py, run in the page by Playwright
// (page.evaluate): a list of problems in words, empty when the page is fine.
() => {
  const problems = [];
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += '#' + el.id;
    if (el.className && typeof el.className === 'string') name += '.' + el.className.trim().split(/\s+/).join('.');
    return name + ' "' + (el.innerText || el.value || '').trim().slice(0, 40) + '"';
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none';
  };
  const de = document.documentElement;
  if (de.scrollWidth > window.innerWidth) {
    problems.push('the page is ' + de.scrollWidth + 'px wide on a ' + window.innerWidth + 'px screen');
  }
  // No text column narrower than 20 characters: each block holding a run of 20 or more
  // characters that has to wrap is at least as wide as 20 zeros in its own font.
  const canvas = document.createElement('canvas').getContext('2d');
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.textContent.trim().length < 20) continue;
    let el = node.parentElement;
    while (el && getComputedStyle(el).display.startsWith('inline') && el !== document.body) el = el.parentElement;
    if (!el || seen.has(el) || !visible(el)) continue;
    seen.add(el);
    if (el.closest('.sr-only, thead')) continue;
    const s = getComputedStyle(el);
    // A one-line summary cut with an ellipsis is no column: a tap opens the whole text.
    if (s.textOverflow === 'ellipsis' && s.whiteSpace === 'nowrap') continue;
    canvas.font = s.font;
    const need = canvas.measureText('0'.repeat(20)).width;
    const width = el.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    // A short text that fits on one line may sit in a box its own width.
    const natural = canvas.measureText(el.innerText.trim().split('\n')[0]).width;
    if (width + 0.5 < need && width + 1 < natural) problems.push(describe(el) + ' is ' + Math.round(width) + 'px wide, 20 characters need ' + Math.round(need) + 'px');
  }
  // Nothing cut off sideways inside a box (an ellipsis on a one-line summary is meant).
  for (const el of document.querySelectorAll('body *')) {
    if (!visible(el) || el.closest('.sr-only, thead')) continue;
    const s = getComputedStyle(el);
    if (s.textOverflow === 'ellipsis') continue;
    if (['auto', 'scroll', 'hidden', 'clip'].includes(s.overflowX) && el.scrollWidth > el.clientWidth + 1) {
      problems.push(describe(el) + ' hides ' + (el.scrollWidth - el.clientWidth) + 'px sideways');
    }
  }
  // Tap targets.
  const controls = 'button, .button, select, summary, input:not([type=hidden]):not([type=checkbox]):not([type=radio]), nav a, label.check';
  for (const el of document.querySelectorAll(controls)) {
    if (!visible(el) || el.closest('.sr-only')) continue;
    const h = el.getBoundingClientRect().height;
    if (h < 43.5) problems.push(describe(el) + ' is ' + Math.round(h) + 'px high (44 at least)');
  }
  // A link standing alone (the only text of its block, list item or cell) is a tap target
  // too; a link inside a sentence is not.
  for (const a of document.querySelectorAll('main a')) {
    if (!visible(a)) continue;
    let block = a.parentElement;
    while (block && getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
    if (!block || block.innerText.trim() !== a.innerText.trim()) continue;
    const h = a.getBoundingClientRect().height;
    if (h < 43.5) problems.push(describe(a) + ' stands alone and is ' + Math.round(h) + 'px high (44 at least)');
  }
  return problems;
}
