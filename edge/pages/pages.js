/* SPDX-License-Identifier: Apache-2.0 */
/* authd-edge progressive enhancement (served as /auth/static/pages.js; the CSP allows scripts
   from 'self' only, so nothing is inline). Every page works without it: the buttons it wires
   up carry the hidden attribute and are shown here.
   - <button data-copy="ID">: copies the text of element ID to the clipboard; a list (<ol>,
     <ul>) is copied one item per line, anything else with its spaces removed (the grouped
     key). The result is announced in the element named by data-copy-status.
   - <button data-print>: opens the browser's print dialog (the print stylesheet does the rest). */
'use strict';
(function () {
  function textOf(el) {
    if (el.tagName === 'OL' || el.tagName === 'UL') {
      return Array.from(el.querySelectorAll('li'), function (li) {
        return li.textContent.trim();
      }).join('\n') + '\n';
    }
    return el.textContent.replace(/\s+/g, '');
  }

  function announce(button, text) {
    var id = button.getAttribute('data-copy-status');
    var out = id ? document.getElementById(id) : null;
    if (out) out.textContent = text;
  }

  document.querySelectorAll('button[data-copy]').forEach(function (button) {
    var target = document.getElementById(button.getAttribute('data-copy'));
    if (!target || !navigator.clipboard) return;
    button.hidden = false;
    button.addEventListener('click', function () {
      navigator.clipboard.writeText(textOf(target)).then(function () {
        announce(button, 'Copied to the clipboard.');
      }, function () {
        announce(button, 'Could not copy: select the text and copy it instead.');
      });
    });
  });

  document.querySelectorAll('button[data-print]').forEach(function (button) {
    if (typeof window.print !== 'function') return;
    button.hidden = false;
    button.addEventListener('click', function () {
      window.print();
    });
  });
})();
