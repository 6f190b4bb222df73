// A basic accessibility check of a page as it is shown, in the spirit of axe-core's rules
// (without the dependency): the document has a language and one heading; every visible
// control has a name; images have alt text; ARIA references point at existing elements;
// ids are unique; the page can be zoomed; visible text meets WCAG 2.1 contrast (4.5:1, or
// 3:1 for large text) against the background it is drawn on; a live region exists. Answers
// a list of problems, empty when there is none.
'use strict';

async function accessibilityProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const visible = (element) => {
      const style = getComputedStyle(element);
      const box = element.getBoundingClientRect();
      return style.display !== 'none' && style.visibility !== 'hidden' &&
             (box.width > 0 || box.height > 0) && !element.closest('[hidden]');
    };
    const describe = (element) => element.tagName.toLowerCase() +
        (element.id ? '#' + element.id : '') +
        (element.className && typeof element.className === 'string'
            ? '.' + element.className.trim().split(/\s+/).join('.') : '');
    const textOf = (id) => {
      const element = document.getElementById(id);
      return element ? element.textContent.trim() : null;
    };
    const accessibleName = (element) => {
      const labelledby = element.getAttribute('aria-labelledby');
      if (labelledby) {
        return labelledby.split(/\s+/).map(textOf).filter(Boolean).join(' ');
      }
      return (element.getAttribute('aria-label') || element.textContent || '').trim();
    };

    if (!document.documentElement.lang) problems.push('html has no lang');
    const headings = [...document.querySelectorAll('h1')].filter(visible);
    if (headings.length !== 1) problems.push(`${headings.length} visible h1 (expected 1)`);
    const viewport = document.querySelector('meta[name=viewport]');
    if (!viewport) problems.push('no viewport meta');
    else if (/user-scalable\s*=\s*no|maximum-scale\s*=\s*1(\.0)?\b/.test(viewport.content)) {
      problems.push('zoom is disabled');
    }

    const controls = 'button, a[href], input, select, textarea, [role=button], [role=timer], ' +
                     '[role=progressbar]';
    for (const element of document.querySelectorAll(controls)) {
      if (!visible(element)) continue;
      if (!accessibleName(element)) problems.push(`${describe(element)} has no accessible name`);
    }
    for (const image of document.querySelectorAll('img')) {
      if (!image.hasAttribute('alt')) problems.push(`${describe(image)} has no alt attribute`);
    }
    for (const attribute of ['aria-labelledby', 'aria-describedby', 'aria-controls']) {
      for (const element of document.querySelectorAll(`[${attribute}]`)) {
        for (const id of element.getAttribute(attribute).split(/\s+/)) {
          if (!document.getElementById(id)) {
            problems.push(`${describe(element)} ${attribute} names a missing #${id}`);
          }
        }
      }
    }
    const ids = new Map();
    for (const element of document.querySelectorAll('[id]')) {
      ids.set(element.id, (ids.get(element.id) || 0) + 1);
    }
    for (const [id, count] of ids) if (count > 1) problems.push(`id ${id} is used ${count} times`);
    if (!document.querySelector('[aria-live], [role=status], [role=alert]')) {
      problems.push('no live region');
    }

    // Contrast of every visible element that draws text of its own.
    const parse = (colour) => {
      const match = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(colour);
      if (!match) return null;
      const alpha = match[4] === undefined ? 1 : +match[4];
      return { r: +match[1], g: +match[2], b: +match[3], a: alpha };
    };
    const luminance = ({ r, g, b }) => {
      const linear = (c) => {
        const v = c / 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      };
      return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
    };
    const backgroundOf = (element) => {
      for (let node = element; node; node = node.parentElement) {
        const colour = parse(getComputedStyle(node).backgroundColor);
        if (colour && colour.a > 0.5) return colour;
      }
      return { r: 255, g: 255, b: 255, a: 1 };
    };
    for (const element of document.body.querySelectorAll('*')) {
      if (!visible(element)) continue;
      const ownText = [...element.childNodes]
          .some((node) => node.nodeType === Node.TEXT_NODE && node.textContent.trim());
      if (!ownText) continue;
      const style = getComputedStyle(element);
      const foreground = parse(style.color);
      if (!foreground) continue;
      const l1 = luminance(foreground);
      const l2 = luminance(backgroundOf(element));
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      const needed = large ? 3 : 4.5;
      if (ratio < needed) {
        problems.push(`${describe(element)} contrast ${ratio.toFixed(2)}:1 < ${needed}:1`);
      }
    }
    return problems;
  });
}

module.exports = { accessibilityProblems };
