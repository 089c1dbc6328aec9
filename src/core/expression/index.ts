export { ExpressionError } from './expression-error.js';
export { tokenize, type Token, type TokenKind } from './lexer.js';
export {
  parseExpression,
  printExpression,
  referencePath,
  type BinaryOperator,
  type Expr,
  type UnaryOperator,
} from './parser.js';
export { evaluate, truthy, typeName, type EvalScope, type EvaluateOptions } from './evaluate.js';
export {
  findReferences,
  forEachString,
  isPlainObject,
  isTemplate,
  parseTemplate,
  referencesIn,
  renderTemplates,
  scanTemplate,
  RenderError,
  type ExpressionPart,
  type RenderOptions,
  type Template,
  type TemplatePart,
  type TemplateProblem,
  type TemplateRef,
  type TemplateSyntaxProblem,
  type TextPart,
} from './template.js';
